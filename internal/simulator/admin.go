package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Fault names accepted by POST /admin/fault.
const (
	FaultDrop      = "drop_connections"
	FaultSilence   = "silence"
	FaultExpireKey = "expire_listen_key"
	FaultMalformed = "malformed"
	FaultLoseNext  = "lose_next"
	FaultRateLimit = "rate_limit"
	FaultCrash     = "crash"
	FaultStep      = "step"
	FaultPause     = "pause"  // stop the simulator's own trading (REST orders still work)
	FaultResume    = "resume" // trade again
)

var faultAliases = map[string]string{
	"drop": FaultDrop, "drop_connections": FaultDrop,
	"silence": FaultSilence,
	"expire":  FaultExpireKey, "expire_listen_key": FaultExpireKey, "expire_listenkey": FaultExpireKey,
	"malformed": FaultMalformed, "inject_malformed": FaultMalformed,
	"lose": FaultLoseNext, "lose_next": FaultLoseNext,
	"rate_limit": FaultRateLimit, "ratelimit": FaultRateLimit,
	"crash": FaultCrash,
	"step":  FaultStep,
	"pause": FaultPause, "resume": FaultResume,
}

// faultRequest is the body of POST /admin/fault, e.g.
// {"fault":"silence","account":"acct-0001","duration":"5s"}.
type faultRequest struct {
	Fault    string  `json:"fault"`
	Account  string  `json:"account"`
	N        int     `json:"n"`
	Duration string  `json:"duration"`
	Data     string  `json:"data"`
	Pct      float64 `json:"pct"`
}

// fault is a decoded, validated fault request.
type fault struct {
	kind     string
	account  string
	n        int
	duration time.Duration
	data     []byte
	pct      float64
}

// decodeFault parses and validates a fault request. It never panics; a
// nil error guarantees a known kind, n >= 1, a non-negative duration and
// the fields the kind needs.
func decodeFault(body []byte) (fault, error) {
	var r faultRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return fault{}, fmt.Errorf("decoding fault request: %w", err)
	}
	if dec.More() {
		return fault{}, errors.New("decoding fault request: trailing data")
	}
	kind, ok := faultAliases[strings.ReplaceAll(strings.ToLower(strings.TrimSpace(r.Fault)), "-", "_")]
	if !ok {
		return fault{}, fmt.Errorf("unknown fault %q", r.Fault)
	}
	f := fault{kind: kind, account: r.Account, n: r.N, pct: r.Pct, data: []byte(r.Data)}
	if f.n < 0 {
		return fault{}, fmt.Errorf("n: %d must not be negative", f.n)
	}
	if f.n == 0 {
		f.n = 1
	}
	if r.Duration != "" {
		d, err := time.ParseDuration(r.Duration)
		if err != nil || d < 0 {
			return fault{}, fmt.Errorf("duration: %q is not a non-negative Go duration", r.Duration)
		}
		f.duration = d
	}
	switch kind {
	case FaultSilence:
		if f.duration == 0 {
			return fault{}, errors.New("silence needs a duration")
		}
	case FaultExpireKey, FaultLoseNext, FaultStep:
		if f.account == "" {
			return fault{}, fmt.Errorf("%s needs an account", kind)
		}
	case FaultMalformed:
		if len(f.data) == 0 {
			f.data = []byte(`{"e":"ORDER_TRADE_UPDATE","E":`)
		}
	case FaultCrash:
		if f.pct <= 0 || f.pct >= 100 {
			return fault{}, fmt.Errorf("crash: pct %v must be within (0, 100)", f.pct)
		}
	}
	return f, nil
}

func (s *Simulator) applyFault(f fault) (map[string]any, error) {
	if f.account != "" {
		s.mu.Lock()
		known := s.byID[f.account] != nil
		s.mu.Unlock()
		if !known {
			return nil, fmt.Errorf("unknown account %q", f.account)
		}
	}
	out := map[string]any{"fault": f.kind, "account": f.account}
	switch f.kind {
	case FaultPause:
		s.SetTrading(false)
		return out, nil
	case FaultResume:
		s.SetTrading(true)
		return out, nil
	case FaultDrop:
		out["dropped"] = s.DropConnections(f.account)
	case FaultSilence:
		s.Silence(f.account, f.duration)
	case FaultExpireKey:
		s.ExpireListenKey(f.account)
	case FaultMalformed:
		s.InjectMalformed(f.account, f.data)
	case FaultLoseNext:
		s.LoseNext(f.account, f.n)
	case FaultRateLimit:
		s.RateLimit(f.n)
	case FaultCrash:
		s.Crash(f.pct, f.duration)
	case FaultStep:
		for range f.n {
			s.Step(f.account)
		}
	}
	return out, nil
}

func (s *Simulator) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/fault", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		f, err := decodeFault(body)
		if err != nil {
			writeJSON(w, 400, map[string]string{"error": err.Error()})
			return
		}
		out, err := s.applyFault(f)
		if err != nil {
			writeJSON(w, 404, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, 200, out)
	})
	mux.HandleFunc("GET /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.Accounts())
	})
	mux.HandleFunc("POST /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.AddAccount())
	})
	mux.HandleFunc("GET /admin/orders", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.Orders(r.URL.Query().Get("account")))
	})
	mux.HandleFunc("GET /admin/algo-orders", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.AlgoOrders(r.URL.Query().Get("account")))
	})
	mux.HandleFunc("GET /admin/positions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.Positions(r.URL.Query().Get("account")))
	})
}
