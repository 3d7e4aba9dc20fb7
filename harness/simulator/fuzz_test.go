package simulator

import (
	"strings"
	"testing"

	"github.com/kraite/stream/internal/binanceapi"
)

// FuzzDecodeFault: decodeFault never panics, and an accepted request is
// valid: a known kind, n >= 1, a non-negative duration, an account where
// the kind needs one and data for malformed frames.
func FuzzDecodeFault(f *testing.F) {
	for _, seed := range []string{
		`{"fault":"drop","account":"acct-0001"}`,
		`{"fault":"silence","account":"acct-0001","duration":"5s"}`,
		`{"fault":"expire-listen-key","account":"acct-0002"}`,
		`{"fault":"malformed","account":"acct-0001","data":"{\"e\":"}`,
		`{"fault":"lose_next","account":"acct-0001","n":3}`,
		`{"fault":"rate_limit","n":2}`,
		`{"fault":"crash","pct":20,"duration":"5m"}`,
		`{"fault":"step","account":"acct-0001","n":-1}`,
		`{"fault":"silence","duration":"-1s"}`,
		`{"fault":"drop"} {"fault":"drop"}`,
		`{"fault":1}`, `[]`, ``, `null`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		flt, err := decodeFault(body)
		if err != nil {
			return
		}
		known := false
		for _, k := range faultAliases {
			known = known || k == flt.kind
		}
		switch {
		case !known:
			t.Fatalf("accepted unknown kind %q", flt.kind)
		case flt.n < 1:
			t.Fatalf("accepted n=%d", flt.n)
		case flt.duration < 0:
			t.Fatalf("accepted duration %v", flt.duration)
		case flt.kind == FaultSilence && flt.duration == 0:
			t.Fatal("accepted silence without a duration")
		case (flt.kind == FaultLoseNext || flt.kind == FaultExpireKey || flt.kind == FaultStep) && flt.account == "":
			t.Fatalf("accepted %s without an account", flt.kind)
		case flt.kind == FaultMalformed && len(flt.data) == 0:
			t.Fatal("accepted malformed without data")
		case flt.kind == FaultCrash && (flt.pct <= 0 || flt.pct >= 100):
			t.Fatalf("accepted crash of %v%%", flt.pct)
		}
	})
}

// FuzzParseBindings: parseBindings never panics and returns only non-empty
// keys and events.
func FuzzParseBindings(f *testing.F) {
	for _, seed := range []string{
		"listenKey=abc",
		"listenKey=k1&events=ORDER_TRADE_UPDATE/ACCOUNT_UPDATE&listenKey=k2&events=ALGO_UPDATE",
		"events=ALGO_UPDATE&listenKey=k",
		"listenKey=%ZZ&listenKey=&events=//",
		"&&==&",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, s := range parseBindings(raw) {
			if s.key == "" {
				t.Fatal("empty listenKey accepted")
			}
			for _, e := range s.events {
				if e == "" || strings.Contains(e, "/") {
					t.Fatalf("bad event name %q", e)
				}
			}
		}
	})
}

// FuzzSignaturePayload: signaturePayload never panics; a request signed
// the way clients sign (signature appended last) verifies, and whatever it
// returns as payload no longer holds a signature parameter.
func FuzzSignaturePayload(f *testing.F) {
	f.Add("symbol=BTCUSDT&timestamp=1", "", "secret")
	f.Add("", "quantity=1&price=2&timestamp=3", "s")
	f.Add("signature=abc&signature=def", "", "")
	f.Add("a=1&&b=2", "c=3", "k")
	f.Fuzz(func(t *testing.T, query, body, secret string) {
		payload, _, ok := signaturePayload(query, body)
		if ok {
			for _, part := range strings.Split(payload, "&") {
				if strings.HasPrefix(part, "signature=") {
					t.Fatalf("payload %q still holds a signature", payload)
				}
			}
		}
		if strings.Contains(query, "signature=") || strings.Contains(body, "signature=") || query == "" {
			return
		}
		sig := binanceapi.Sign(secret, query+body)
		payload, got, ok := signaturePayload(query+"&signature="+sig, body)
		if body != "" {
			payload, got, ok = signaturePayload(query, body+"&signature="+sig)
		}
		if !ok || got != sig || binanceapi.Sign(secret, payload) != sig {
			t.Fatalf("round trip failed: payload %q sig %q ok %v", payload, got, ok)
		}
	})
}

// FuzzDecodeClientMessage: decodeClientMessage never panics and an
// accepted message has a method.
func FuzzDecodeClientMessage(f *testing.F) {
	for _, seed := range []string{
		`{"method":"SUBSCRIBE","params":["!markPrice@arr@1s"],"id":1}`,
		`{"method":"LIST_SUBSCRIPTIONS","id":18446744073709551615}`,
		`{"method":"SUBSCRIBE","id":-1}`, `{"params":[]}`, `{`, `"x"`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := decodeClientMessage(msg)
		if err == nil && m.Method == "" {
			t.Fatal("accepted a message without a method")
		}
	})
}
