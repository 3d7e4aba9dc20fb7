package regimestate

import (
	"time"

	"github.com/kraite/stream/topics"
)

// OverrideScope is the key of the operator override that applies to every
// exchange (the regime-overrides topic has no other).
const OverrideScope = "global"

// Bounds of an operator override, shared by the processors that read
// overrides (a record past them is garbage there, and garbage fails closed:
// the gate refuses opens) and the command that writes them (which refuses
// them before publishing, so a typo cannot block trading).
const (
	// MaxOverrideSpan is the longest an override may last: an operator
	// who needs longer renews it.
	MaxOverrideSpan = 30 * 24 * time.Hour
	// MaxOverrideReason bounds an override's reason (characters).
	MaxOverrideReason = 512
)

// TableSpec declares the regime group table (goka's <prefix>regime-table,
// the regime processor's group table: a State per exchange, which the
// gate, the status page and `kraite regime status` read) as a topic spec,
// so deployments can create it up front with topics.Apply (compacted, as
// many partitions as mark-price). Apply it before starting the gate: the
// gate looks the table up, and a Kafka broker that auto-creates a missing
// topic would create it with its default partition count and no
// compaction, which the regime processor then refuses (its table must be
// copartitioned with mark-price).
func TableSpec() topics.Spec {
	return topics.Spec{Suffix: "regime-table", Partitions: topics.MarkPrice.Partitions, Compact: true,
		Key: "exchange", Value: "regime.State (JSON)", Doc: "goka group table of the regime processor"}
}

// Gate statuses of a State (what an open intent would meet).
const (
	GateOpen          = "open"
	GateBlocked       = "blocked"        // band Critical
	GateCooldown      = "cooldown"       // left Critical less than Cooldown ago
	GateOverrideAllow = "override_allow" // an operator override allows opens
	GateOverrideBlock = "override_block" // an operator override blocks opens
	GateNoState       = "no_state"       // no regime state yet (fail closed)
	GateStale         = "stale"          // the regime state is too old (fail closed)
	GateDegraded      = "degraded"       // the feed is too thin to judge (State.Degraded says why)
	// GateOverrideUnreadable: the overrides topic holds only garbage for
	// the scope (State.OverrideUnreadable says why); fail closed.
	GateOverrideUnreadable = "override_unreadable"
)

// GateStatuses lists every gate status a State or a RegimeChange may
// carry (consumers of regime-changes validate against it).
var GateStatuses = []string{GateOpen, GateBlocked, GateCooldown, GateOverrideAllow, GateOverrideBlock,
	GateNoState, GateStale, GateDegraded, GateOverrideUnreadable}

// State is the value of the regime group table (key = exchange): the score,
// band and gate of the market, the cooldown and override in force, and the
// inputs of the last evaluation. The rolling market the score comes from
// is the processor's (processors/regime keeps it in memory and in
// checkpoints), not part of the value.
type State struct {
	Scope   string  `json:"scope"`
	AtMs    int64   `json:"at"` // event time of the last input
	Score   float64 `json:"score"`
	Band    Band    `json:"band"`
	SinceMs int64   `json:"since"` // when Band was entered
	// DownSinceMs is when the score began pointing to a lower band (0 when
	// it does not); the band follows after the processor's Config.DownHold.
	DownSinceMs     int64            `json:"down_since,omitempty"`
	CooldownUntilMs int64            `json:"cooldown_until,omitempty"`
	Override        *topics.Override `json:"override,omitempty"`
	Gate            string           `json:"gate"`
	// Degraded is why the feed cannot support a verdict (the reference
	// silent, too few symbols ticking, by event time); "" when it can. A
	// degraded state blocks opens (GateDegraded) until the feed recovers or
	// an operator allow override says otherwise.
	Degraded string `json:"degraded,omitempty"`
	// RecoverUntilMs is when a feed that was degraded counts as healthy
	// again (the processor's Config.Recovery after its last degraded record): the score's
	// windows hold the blind spell until they refill.
	RecoverUntilMs int64 `json:"recover_until,omitempty"`
	// OverrideUnreadable is why the override could not be read at the last
	// record ("" when it could): the overrides View holds only garbage for
	// the scope. The processor sets it on the previous state before its
	// step, from what it read; the step carries it and GateStatus refuses opens
	// on it (GateOverrideUnreadable) unless a readable override is active.
	OverrideUnreadable string `json:"override_unreadable,omitempty"`
	Inputs             Inputs `json:"inputs"`
	Records            int64  `json:"records"`
	// Partition and Next locate the last input record folded into the
	// state: its mark-price partition and its offset + 1 (0: unknown, a
	// state written before the checkpoints). A record below Next was
	// folded already (a redelivery after a crash) and is skipped; a
	// rebuild replays the input from the last checkpoint up to Next.
	Partition int32 `json:"partition,omitempty"`
	Next      int64 `json:"next,omitempty"`
}

// ActiveOverride returns ov when it is an allow or block still in force at
// now, else nil (a "clear" or an expired override ends by itself).
func ActiveOverride(ov *topics.Override, now int64) *topics.Override {
	if ov == nil || now >= ov.UntilMs {
		return nil
	}
	if ov.Action != "allow" && ov.Action != "block" {
		return nil
	}
	return ov
}

// GateStatus decides whether a new open may pass at time now (ms), given
// the regime state s (nil when none exists) and the newest override:
//   - an active operator override wins: "allow" lets opens through even in
//     Critical or cooldown, "block" refuses them;
//   - no state: refused (fail closed);
//   - the override unreadable at the regime's last record
//     (s.OverrideUnreadable): refused (fail closed);
//   - a degraded feed (s.Degraded): refused, the band cannot be trusted;
//   - band Critical: refused;
//   - within the cooldown after Critical: refused;
//   - otherwise allowed.
//
// It returns the gate status and a human-readable reason.
func GateStatus(s *State, ov *topics.Override, now int64) (status, reason string) {
	if ov := ActiveOverride(ov, now); ov != nil {
		until := time.UnixMilli(ov.UntilMs).UTC().Format(time.RFC3339)
		if ov.Action == "allow" {
			return GateOverrideAllow, "operator override allows opens until " + until + ": " + ov.Reason
		}
		return GateOverrideBlock, "operator override blocks opens until " + until + ": " + ov.Reason
	}
	switch {
	case s == nil || s.Band == "":
		return GateNoState, "no regime state yet"
	case s.OverrideUnreadable != "":
		return GateOverrideUnreadable, "regime overrides unreadable (" + s.OverrideUnreadable + "); write a valid one, e.g. kraite regime override clear"
	case s.Degraded != "":
		return GateDegraded, "regime degraded: " + s.Degraded
	case s.Band == Critical:
		return GateBlocked, "market regime is Critical"
	case s.CooldownUntilMs != 0 && now < s.CooldownUntilMs:
		return GateCooldown, "cooldown after Critical until " + time.UnixMilli(s.CooldownUntilMs).UTC().Format(time.RFC3339)
	}
	return GateOpen, "market regime is " + string(s.Band)
}

// Blocked reports whether s alone (no override, at its own event time)
// refuses opens, and why: what the gate's GateStatus says before
// overrides and its own staleness check.
func (s *State) Blocked() (reason string, blocked bool) {
	var at int64
	if s != nil {
		at = s.AtMs
	}
	status, reason := GateStatus(s, nil, at)
	return reason, !Allowed(status)
}

// Allowed reports whether a gate status lets new opens through.
func Allowed(status string) bool { return status == GateOpen || status == GateOverrideAllow }

// Inputs are the raw inputs and the resulting score of one evaluation.
type Inputs struct {
	BTCShort   float64 `json:"btc_short"`   // |return| of Reference over ShortWindow
	BTCLong    float64 `json:"btc_long"`    // |return| of Reference over LongWindow
	Breadth    float64 `json:"breadth"`     // share of fresh symbols with a large move in the dominant direction
	VolRatio   float64 `json:"vol_ratio"`   // fast / slow realised volatility of Reference
	StaleShare float64 `json:"stale_share"` // share of known symbols that are stale
	Symbols    int     `json:"symbols"`     // known symbols
	Score      float64 `json:"score"`       // 0..100, rounded to 0.01
	// Feed health, by event time: the reference's silence (-1 when never
	// seen) and the share of known symbols that ticked within DegradedAfter.
	BTCAgeMs   int64   `json:"btc_age_ms"`
	FreshShare float64 `json:"fresh_share"`
	// Degraded is why the inputs cannot support a verdict ("" when they
	// can); State.Degraded carries it.
	Degraded string `json:"-"`
}

// Map returns the inputs as a map (RegimeChange.Inputs); btc_age_s is -1
// when the reference was never seen.
func (in Inputs) Map() map[string]float64 {
	return map[string]float64{"btc_short": in.BTCShort, "btc_long": in.BTCLong, "breadth": in.Breadth,
		"vol_ratio": in.VolRatio, "stale_share": in.StaleShare, "symbols": float64(in.Symbols),
		"btc_age_s": max(float64(in.BTCAgeMs)/1000, -1), "fresh_share": in.FreshShare}
}
