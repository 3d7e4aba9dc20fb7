package simulator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
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

// adminAuth guards every /admin route: a client that is not on a loopback
// address gets 403 (unless AdminRemote), a request without the AdminToken
// 401. The admin API hands out API secrets and drives the exchange.
func (s *Simulator) adminAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.AdminRemote && !loopbackPeer(r.RemoteAddr) {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "the admin API answers loopback clients only"})
			return
		}
		if tok := s.cfg.AdminToken; tok != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kraite simulator admin"`)
				writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "the admin API needs Authorization: Bearer <admin token>"})
				return
			}
		}
		h(w, r)
	}
}

// loopbackPeer reports whether a request's RemoteAddr is a loopback address.
func loopbackPeer(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// AccountsFile is the accounts in the accounts file format of the
// user-data producer (KRAITE_ACCOUNTS_FILE): [{"id","api_key","api_secret"}].
func (s *Simulator) AccountsFile() []byte {
	b, _ := json.MarshalIndent(s.Accounts(), "", "  ")
	return append(b, '\n')
}

func (s *Simulator) adminRoutes(mux *http.ServeMux) {
	handle := func(pattern string, h http.HandlerFunc) { mux.HandleFunc(pattern, s.adminAuth(h)) }
	handle("POST /admin/fault", func(w http.ResponseWriter, r *http.Request) {
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
	handle("GET /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.AccountsFile())
	})
	handle("POST /admin/accounts", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.AddAccount())
	})
	handle("GET /admin/orders", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.Orders(r.URL.Query().Get("account")))
	})
	handle("GET /admin/algo-orders", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.AlgoOrders(r.URL.Query().Get("account")))
	})
	handle("GET /admin/positions", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, s.Positions(r.URL.Query().Get("account")))
	})
}

// NewAdminToken makes a random admin token and writes it to path (mode
// 0600, replacing an older one), so a local operator can read it and
// nothing else is told it.
func NewAdminToken(path string) (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("making the simulator admin token: %w", err)
	}
	tok := hex.EncodeToString(b)
	if err := writeFileAtomic(path, []byte(tok+"\n")); err != nil {
		return "", fmt.Errorf("writing the simulator admin token to %s: %w", path, err)
	}
	return tok, nil
}

// CheckListenAddr refuses a listen address that is not a loopback one
// (0.0.0.0, a LAN address, a host name, an empty host) unless allowRemote:
// the simulator serves API secrets and a fault API, and its accounts trade
// for whoever reaches it.
func CheckListenAddr(addr string, allowRemote bool) error {
	if allowRemote {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Unmap().IsLoopback() {
		return fmt.Errorf("%q is not a loopback address; the simulator hands out API secrets: pass --allow-remote (KRAITE_SIM_ALLOW_REMOTE=true) to listen there", addr)
	}
	return nil
}
