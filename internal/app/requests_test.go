package app

import (
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/topics"
)

// Each command's request names its first missing or bad field by its flag,
// the message the command prints as a usage error.
func TestRequestsNameTheirBadFlag(t *testing.T) {
	replay := ReplayRequest{Group: "g", Topic: "orders", From: "earliest", Interval: time.Second}
	rebuild := RebuildRequest{Into: "sqlite:///tmp/x.db", Topics: "orders", Interval: time.Second}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"replay ok", replay.Validate(), ""},
		{"replay group", ReplayRequest{}.Validate(), "--group is required"},
		{"replay interval", func() error { r := replay; r.Interval = 0; return r.Validate() }(), "--progress-interval 0s must be positive"},
		{"replay wait", func() error { r := replay; r.WaitTimeout = -time.Second; return r.Validate() }(), "--wait-timeout -1s must not be negative"},
		{"rebuild ok", rebuild.Validate(), ""},
		{"rebuild into", RebuildRequest{}.Validate(), "--into is required"},
		{"rebuild topic", func() error { r := rebuild; r.Topics = "orders,nope"; return r.Validate() }(), `--topics: "nope" is not one of`},
		{"rebuild none", func() error { r := rebuild; r.Topics = " , "; return r.Validate() }(), "--topics: name at least one"},
		{"rebuild suffix", func() error { r := rebuild; r.GroupSuffix = "a b"; return r.Validate() }(), "--group-suffix"},
		{"open", OpenRequest{}.Validate(), "--account, --symbol, --side and --size are required"},
		{"healthcheck timeout", HealthcheckRequest{}.Validate(), "--timeout: 0s must be positive"},
		{"healthcheck url", HealthcheckRequest{Timeout: time.Second, URL: "ftp://x"}.Validate(), "--url: "},
	} {
		if tt.want == "" && tt.err != nil || tt.want != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, tt.err, tt.want)
		}
	}
	rs, err := RebuildRequest{Topics: "mark-price,orders,orders"}.specs()
	if err != nil || len(rs) != 2 || rs[0].Suffix != "mark-price" || rs[1].Suffix != "orders" {
		t.Fatalf("specs: %v, %v", rs, err)
	}
}

// --principal role=TYPE:NAME, each role once.
func TestPrincipalsFlag(t *testing.T) {
	p := Principals{}
	if err := p.Set("athena=User:ingest"); err != nil || p["athena"] != "User:ingest" {
		t.Fatalf("%v %v", err, p)
	}
	if err := p.Set("athena=User:other"); err == nil || !strings.Contains(err.Error(), "given twice") {
		t.Fatalf("twice: %v", err)
	}
	if err := p.Set("athena"); err == nil || !strings.Contains(err.Error(), "is not role=TYPE:NAME") {
		t.Fatalf("no =: %v", err)
	}
}

// kraite run takes a role or a list of components, never both, and names
// the flag at fault.
func TestRunRequestNamesItsFlag(t *testing.T) {
	role := RoleNames()[0]
	for _, tt := range []struct {
		name string
		r    RunRequest
		want string
	}{
		{"a role", RunRequest{Role: role}, ""},
		{"components", RunRequest{Components: "audit-sink, orders-sink"}, ""},
		{"empty", RunRequest{}, "give --role or --components"},
		{"both", RunRequest{Role: role, Components: "audit-sink"}, "give --role or --components, not both"},
		{"unknown role", RunRequest{Role: "nosuch"}, `unknown role "nosuch" (roles: ` + strings.Join(RoleNames(), ", ")},
		{"negative-looking role", RunRequest{Role: "-1"}, `unknown role "-1"`},
		{"huge role", RunRequest{Role: strings.Repeat("x", 1<<20)}, "unknown role"},
		{"a typo of a component", RunRequest{Components: "audit-sink,orders-snk"}, `unknown component "orders-snk"`},
		{"components naming none", RunRequest{Components: " , "}, "names no component"},
	} {
		err := tt.r.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	names, err := RunRequest{Components: " audit-sink,, orders-sink "}.names()
	if err != nil || strings.Join(names, "|") != "audit-sink|orders-sink" {
		t.Fatalf("names: %q, %v", names, err)
	}
	if got := RunProcessName("", names); got != "audit-sink, orders-sink" {
		t.Fatalf("process name: %q", got)
	}
}

// The operator commands' requests refuse what their flags and arguments
// cannot mean, naming the flag or argument, before any broker or database
// is opened.
func TestOperatorRequestsNameTheirBadFlag(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"status once", StatusRequest{}.Validate(), ""},
		{"status with a negative watch", StatusRequest{Watch: -time.Second}.Validate(), "--watch -1s must not be negative"},
		{"open without waiting", OpenRequest{Intent: topics.OpenIntent{Account: "a", Symbol: "BTCUSDT", Side: "BUY", Size: "1"}}.Validate(), ""},
		{"open with a negative wait", OpenRequest{Intent: topics.OpenIntent{Account: "a", Symbol: "BTCUSDT", Side: "BUY", Size: "1"}, Wait: -time.Second}.Validate(), "--wait -1s must not be negative"},
		{"allowlist get", AllowlistRequest{Sub: "get", Exchange: "binance"}.Validate(), ""},
		{"allowlist set, any case", AllowlistRequest{Sub: "set", Exchange: "binance", Types: []string{"trade", "EXPIRED"}}.Validate(), ""},
		{"allowlist set, shadow mode", AllowlistRequest{Sub: "set", Exchange: "binance"}.Validate(), ""},
		{"allowlist no exchange", AllowlistRequest{Sub: "get"}.Validate(), `unknown exchange "": dispatch has allowlists for binance`},
		{"allowlist huge exchange", AllowlistRequest{Sub: "get", Exchange: huge}.Validate(), "unknown exchange"},
		{"allowlist unknown type", AllowlistRequest{Sub: "set", Exchange: "binance", Types: []string{"TRADE", "TRAED"}}.Validate(), `unknown execution type "TRAED"`},
		{"allowlist empty type", AllowlistRequest{Sub: "set", Exchange: "binance", Types: []string{""}}.Validate(), `unknown execution type ""`},
		{"allowlist get with types", AllowlistRequest{Sub: "get", Exchange: "binance", Types: []string{"TRADE"}}.Validate(), `unexpected argument "TRADE"`},
		{"allowlist reset with types", AllowlistRequest{Sub: "reset", Exchange: "binance", Types: []string{"TRADE"}}.Validate(), "allowlist reset takes only the exchange"},
		{"accounts list", AccountsRequest{Sub: "list"}.Validate(), ""},
		{"accounts add", AccountsRequest{Sub: "add", APIKey: "k"}.Validate(), ""},
		{"accounts add, no key", AccountsRequest{Sub: "add"}.Validate(), "--api-key is required"},
		{"accounts rotate-key, no file", AccountsRequest{Sub: "rotate-key"}.Validate(), "--new-key-file is required"},
		{"accounts audit, no limit", AccountsRequest{Sub: "audit"}.Validate(), "--limit must be at least 1"},
		{"accounts audit, negative limit", AccountsRequest{Sub: "audit", Limit: -1}.Validate(), "--limit must be at least 1"},
		{"accounts audit, huge limit", AccountsRequest{Sub: "audit", Limit: 1 << 40}.Validate(), ""},
		{"acls apply --prune", ACLsRequest{Apply: true, Prune: true}.Validate(), ""},
		{"acls plan --prune", ACLsRequest{Prune: true}.Validate(), "--prune is an option of apply"},
		{"override clear", OverrideRequest{Action: "clear"}.Validate(), ""},
		{"override allow", OverrideRequest{Action: "allow", For: time.Hour, Reason: "drill"}.Validate(), ""},
		{"override allow without a reason", OverrideRequest{Action: "allow", For: time.Hour, Reason: "  "}.Validate(), "--reason is required"},
		{"override block for no time", OverrideRequest{Action: "block", Reason: "x"}.Validate(), "--for 0s must be positive"},
		{"override block for a negative time", OverrideRequest{Action: "block", For: -time.Hour, Reason: "x"}.Validate(), "--for -1h0m0s must be positive"},
		{"override allow for a year", OverrideRequest{Action: "allow", For: 365 * 24 * time.Hour, Reason: "x"}.Validate(), "longer than an override may last"},
		{"override allow with a huge reason", OverrideRequest{Action: "allow", For: time.Hour, Reason: huge}.Validate(), "--reason"},
		{"override clear with a control character", OverrideRequest{Action: "clear", Reason: "a\x00b"}.Validate(), "--reason"},
		{"override no action", OverrideRequest{}.Validate(), "override needs an action: allow, block or clear"},
		{"override unknown action", OverrideRequest{Action: "maybe"}.Validate(), `unknown override action "maybe"`},
		{"override huge action", OverrideRequest{Action: huge}.Validate(), "unknown override action"},
		{"override negative-looking action", OverrideRequest{Action: "-allow"}.Validate(), `unknown override action "-allow"`},
	} {
		if tt.want == "" && tt.err != nil || tt.want != "" && (tt.err == nil || !strings.Contains(tt.err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.name, tt.err, tt.want)
		}
	}
}
