package ptest

import (
	"bytes"
	"testing"
	"time"
)

// AppendFrame writes the bytes json.Marshal writes, at 30 and 568
// symbols (three-digit ALT numbers), before, during and after the crash.
func TestAppendFrameIsJSONMarshal(t *testing.T) {
	for _, n := range []int{1, 30, 568} {
		sc := Crash()
		sc.Symbols = n
		for _, i := range []int{0, 1, 180, 185, 200, sc.Len() - 1} {
			_, got := sc.AppendFrame(nil, i)
			if want := sc.marshalFrame(i); !bytes.Equal(got, want) {
				t.Fatalf("%d symbols, frame %d:\n got %.300s\nwant %.300s", n, i, got, want)
			}
		}
	}
	sc := Crash()
	sc.Step, sc.End = time.Second, time.Hour
	if sc.Len() != 3601 {
		t.Fatalf("Len %d", sc.Len())
	}
}
