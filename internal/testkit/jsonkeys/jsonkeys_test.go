package jsonkeys

import "testing"

func TestUnderscoreRenamesKeysAtAnyDepthAndNothingElse(t *testing.T) {
	upper := func(k string) bool { return k == "S" || k == "Data" }
	for _, c := range []struct{ in, want string }{
		{` {"S":"S","s":["S",{"S":1}],"Data":{"Data":"x"}} `, `{"_S":"S","s":["S",{"_S":1}],"_Data":{"_Data":"x"}}`},
		{`{"s":"S"}`, `{"s":"S"}`},
		{`{"S":`, `{"S":`},
		{`["S"]`, `["S"]`},
		{`{"a":{},"S":[]}`, `{"a":{},"_S":[]}`},
		{`{"\u0053":1}`, `{"_\u0053":1}`},
	} {
		if got := string(Underscore([]byte(c.in), upper)); got != c.want {
			t.Errorf("Underscore(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}
