package regimehistory

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// Bounds of a regime-changes record.
const (
	// MaxRecordBytes bounds the encoded record; a real one is about 400
	// bytes. A larger record is refused before it is decoded.
	MaxRecordBytes = 16 << 10
	// MaxInputs bounds the number of inputs (the regime writes 8).
	MaxInputs = 32
	// MaxInputName bounds an input's name (characters).
	MaxInputName = 32
	// MaxInputValue bounds an input's magnitude (the regime clamps an
	// infinite ratio to 1e9; a BTC age in seconds stays far below).
	MaxInputValue = 1e12
	// MaxDegraded is the width of regime_history.degraded (characters).
	MaxDegraded = 255
	// MaxCooldownAhead bounds how far past the change a cooldown may end:
	// the regime's is 30 minutes; a cooldown in the year 9999 is garbage.
	MaxCooldownAhead = 7 * 24 * time.Hour
	// FromNone is from_band of a scope's first change.
	FromNone = "none"
)

// Row is one regime_history row.
type Row struct {
	Scope           string
	From, To        string
	Score           float64
	AtMs            int64
	CooldownUntilMs int64
	// Inputs is the inputs map as JSON (keys sorted); nil when there are none.
	Inputs *string
	// Gate and Degraded are nil when the record carries none.
	Gate, Degraded *string
}

var bands = []string{string(regimestate.Calm), string(regimestate.Elevated), string(regimestate.Fragile), string(regimestate.Critical)}

// Decode validates a record of the regime-changes topic at the consumer's
// clock now and returns its row. A record is refused (and quarantined by
// the sink, never retried) when:
//   - it is a tombstone or larger than MaxRecordBytes, or not a JSON
//     RegimeChange;
//   - its scope is not a known exchange, or differs from the record key;
//   - to_band is not a band, or from_band neither a band nor "none";
//   - the score is not a finite number in [0, 100];
//   - at is outside the sane years (validate.SaneTime) or more than
//     maxAhead past now (topics.CheckEventTime);
//   - cooldown_until is negative or more than MaxCooldownAhead past at;
//   - gate is set and not a regime gate status;
//   - degraded is not text of at most MaxDegraded characters;
//   - inputs has more than MaxInputs entries, a name that is not a short
//     identifier, or a value that is not finite or beyond MaxInputValue.
func Decode(rec *kgo.Record, now time.Time, maxAhead time.Duration) (Row, error) {
	var row Row
	switch {
	case rec.Value == nil:
		return row, errors.New("regime change tombstone refused")
	case len(rec.Value) > MaxRecordBytes:
		return row, fmt.Errorf("regime change of %d bytes (at most %d)", len(rec.Value), MaxRecordBytes)
	}
	var c topics.RegimeChange
	if err := json.Unmarshal(rec.Value, &c); err != nil {
		return row, fmt.Errorf("decoding regime change: %w", err)
	}
	return Check(string(rec.Key), c, now, maxAhead)
}

// Check validates a decoded change (see Decode) whose record key is key.
func Check(key string, c topics.RegimeChange, now time.Time, maxAhead time.Duration) (Row, error) {
	var row Row
	if err := validate.Exchange(c.Scope); err != nil {
		return row, fmt.Errorf("regime change scope: %w", err)
	}
	if key != c.Scope {
		return row, fmt.Errorf("regime change key %q differs from its scope %q", topics.Bound(key, 64), c.Scope)
	}
	if err := validate.OneOf(c.To, bands...); err != nil {
		return row, fmt.Errorf("regime change to_band: %w", err)
	}
	if err := validate.OneOf(c.From, append([]string{FromNone}, bands...)...); err != nil {
		return row, fmt.Errorf("regime change from_band: %w", err)
	}
	if math.IsNaN(c.Score) || c.Score < 0 || c.Score > 100 {
		return row, fmt.Errorf("regime change score %v is not in [0, 100]", c.Score)
	}
	if err := validate.SaneTime(time.UnixMilli(c.AtMs)); err != nil {
		return row, fmt.Errorf("regime change at: %w", err)
	}
	if err := topics.CheckEventTime(c.AtMs, now, maxAhead); err != nil {
		return row, fmt.Errorf("regime change at: %w", err)
	}
	if c.CooldownMs < 0 || c.CooldownMs > c.AtMs+MaxCooldownAhead.Milliseconds() {
		return row, fmt.Errorf("regime change cooldown_until %d is negative or more than %s after its time %d", c.CooldownMs, MaxCooldownAhead, c.AtMs)
	}
	if c.Gate != "" {
		if err := validate.OneOf(c.Gate, regimestate.GateStatuses...); err != nil {
			return row, fmt.Errorf("regime change gate: %w", err)
		}
	}
	if err := validate.Text(c.Degraded, MaxDegraded); err != nil {
		return row, fmt.Errorf("regime change degraded: %w", err)
	}
	inputs, err := checkInputs(c.Inputs)
	if err != nil {
		return row, err
	}
	row = Row{Scope: c.Scope, From: c.From, To: c.To, Score: c.Score, AtMs: c.AtMs, CooldownUntilMs: c.CooldownMs,
		Inputs: inputs, Gate: optional(c.Gate), Degraded: optional(c.Degraded)}
	return row, nil
}

func checkInputs(in map[string]float64) (*string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxInputs {
		return nil, fmt.Errorf("regime change has %d inputs (at most %d)", len(in), MaxInputs)
	}
	for k, v := range in {
		if err := validate.Name(k, MaxInputName); err != nil {
			return nil, fmt.Errorf("regime change input name: %w", err)
		}
		if math.IsNaN(v) || math.Abs(v) > MaxInputValue {
			return nil, fmt.Errorf("regime change input %s = %v is not a finite number within ±%g", k, v, MaxInputValue)
		}
	}
	b, err := json.Marshal(in) // finite values: cannot fail; keys come out sorted
	if err != nil {
		return nil, fmt.Errorf("encoding regime change inputs: %w", err)
	}
	s := string(b)
	return &s, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
