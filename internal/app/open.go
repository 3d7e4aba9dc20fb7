package app

// kraite open: judge an intent before publishing it, and wait for the
// gate's decision.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/topics"
)

// PrevalidateOpen judges in against the database of ex (and its accounts:
// the enabled accounts of the accounts table with
// KRAITE_ACCOUNTS_SOURCE=database, else those of its accounts file) as the
// gate would. The gate is the authority, so
// when this process cannot judge (the database is unreachable, or holds no
// symbol rules for the exchange yet) it returns why as cannot and no
// refusal; what it can judge and refuses is the refusal.
func PrevalidateOpen(ctx context.Context, ex Exchange, lim intents.Limits, in topics.OpenIntent, now time.Time, log *slog.Logger) (refusal *intents.Refusal, cannot error) {
	warn := func(why string, err error) error { return fmt.Errorf("%s (%w)", why, err) }
	octx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	d, err := db.Open(octx, ex.DatabaseURL)
	if err != nil {
		return nil, warn("the database is unreachable", err)
	}
	defer d.Close()
	cfg := intents.SourceConfig{DB: d, Limits: lim, Now: func() time.Time { return now }, Log: log}
	switch {
	case ex.AccountsSource == AccountsSourceDatabase:
		// The accounts the gate serves from the accounts table (no
		// secret is read: no key is needed).
		cfg.Accounts = func(ctx context.Context) ([]intents.AccountKey, error) {
			accts, err := servedTableAccounts(ctx, d)
			if err != nil {
				return nil, fmt.Errorf("KRAITE_ACCOUNTS_SOURCE=database: %w", err)
			}
			return accountKeys(accts), nil
		}
	case ex.AccountsFile != "":
		cfg.Accounts = func(context.Context) ([]intents.AccountKey, error) {
			accts, err := userdata.LoadFile(ex.AccountsFile)
			if err != nil {
				return nil, fmt.Errorf("KRAITE_ACCOUNTS_FILE: %w", err)
			}
			return accountKeys(accts), nil
		}
	}
	src, err := intents.NewSource(cfg)
	if err != nil {
		return nil, warn("the validator cannot be configured", err)
	}
	snap, err := src.Load(octx)
	if err != nil {
		return nil, warn("the validation data cannot be read", err)
	}
	listed := false
	for k := range snap.Symbols {
		if k.Exchange == in.Exchange {
			listed = true
			break
		}
	}
	if !listed {
		return nil, warn("the database holds no symbol rules for "+in.Exchange, errors.New("run kraite symbols import"))
	}
	return intents.Validate(in, snap, lim, now), nil
}

// DecisionOffsets are where the gate's decision topics end, per topic and
// partition: a decision published later is at or after them.
type DecisionOffsets map[string]map[int32]kgo.Offset

// DecisionsEnd lists the end offsets of the gate's decision topics
// (positions: allowed; open-intents.rejected: refused) before an intent is
// published.
func DecisionsEnd(ctx context.Context, c Common) (DecisionOffsets, error) {
	cl, err := KafkaClient(ctx, c.Brokers)
	if err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topics.Positions.Name(c.TopicPrefix), topics.OpenIntentsRejected.Name(c.TopicPrefix))
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	out := DecisionOffsets{}
	ends.Each(func(o kadm.ListedOffset) {
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]kgo.Offset{}
		}
		out[o.Topic][o.Partition] = kgo.NewOffset().At(o.Offset)
	})
	return out, nil
}

// Decision is the gate's answer to one intent.
type Decision struct {
	Allowed        bool
	Band           string
	Score          float64
	Reason, Detail string // when refused
}

// WaitDecision reads the gate's decision topics from since until the
// decision on the intent clientID, for at most wait.
func WaitDecision(ctx context.Context, c Common, since DecisionOffsets, clientID string, wait time.Duration) (Decision, error) {
	cl, err := kclient.ForBrokers(c.Brokers...).Client(kgo.ConsumePartitions(since))
	if err != nil {
		return Decision{}, fmt.Errorf("creating consumer: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for ctx.Err() == nil {
		var d *Decision
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			if d != nil {
				return
			}
			switch r.Topic {
			case topics.Positions.Name(c.TopicPrefix):
				var pe topics.PositionEvent
				if json.Unmarshal(r.Value, &pe) == nil && pe.Intent != nil && pe.Intent.ClientID == clientID {
					d = &Decision{Allowed: true, Band: string(pe.Band), Score: pe.Score}
				}
			default:
				var ri topics.RejectedIntent
				if json.Unmarshal(r.Value, &ri) == nil && ri.Intent.ClientID == clientID {
					d = &Decision{Band: string(ri.Band), Score: ri.Score, Reason: string(ri.Reason), Detail: ri.Detail}
				}
			}
		})
		if d != nil {
			return *d, nil
		}
	}
	return Decision{}, fmt.Errorf("no decision for %s within %s (is the gate running?)", clientID, wait)
}

// OpenRequest is what `kraite open` is asked to publish.
type OpenRequest struct {
	Intent topics.OpenIntent
	Wait   time.Duration // wait this long for the gate's decision (0: do not wait)
}

// Validate names the missing required fields, as their flags.
func (r OpenRequest) Validate() error {
	in := r.Intent
	if in.Account == "" || in.Symbol == "" || in.Side == "" || in.Size == "" {
		return errors.New("--account, --symbol, --side and --size are required")
	}
	if r.Wait < 0 {
		// Refused before publishing: a negative wait published the intent,
		// then failed, and a script retrying it published it again.
		return fmt.Errorf("--wait %s must not be negative", r.Wait)
	}
	return nil
}

// Open judges r.Intent before publishing it (its shape; with a database,
// also what the gate checks: PrevalidateOpen), publishes it to the
// open-intents topic and, with r.Wait, waits for the gate's decision. A
// refusal, here or by the gate, is an error; what cannot be judged here is
// a warning on stderr.
func Open(ctx context.Context, cfg *Config, log *slog.Logger, r OpenRequest, stdout, stderr io.Writer) error {
	in, c, oe := r.Intent, cfg.Common, cfg.Exchange
	in.Side = strings.ToUpper(in.Side)
	lim, err := cfg.Intents.Limits()
	if err != nil {
		return err
	}
	if r := intents.CheckShape(in); r != nil {
		return fmt.Errorf("refused before publishing: %w", r)
	}
	now := time.Now()
	if oe.DatabaseURL != "" {
		r, cannot := PrevalidateOpen(ctx, oe, lim, in, now, log)
		if cannot != nil {
			fmt.Fprintf(stderr, "warning: %v; only the intent's shape was checked here, the gate validates it fully\n", cannot)
		}
		if r != nil {
			return fmt.Errorf("refused before publishing: %w", r)
		}
	}
	if in.ClientID == "" {
		in.ClientID = fmt.Sprintf("cli-%d", now.UnixNano())
	}
	in.CreatedMs = now.UnixMilli()
	var since DecisionOffsets
	if r.Wait > 0 {
		if since, err = DecisionsEnd(ctx, c); err != nil {
			return err
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding intent: %w", err)
	}
	if _, err := ProduceOne(ctx, c, &kgo.Record{Topic: topics.OpenIntents.Name(c.TopicPrefix), Key: []byte(in.Account), Value: b}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "intent %s published\n", in.ClientID)
	if r.Wait == 0 {
		return nil
	}
	d, err := WaitDecision(ctx, c, since, in.ClientID, r.Wait)
	if err != nil {
		return err
	}
	if d.Allowed {
		fmt.Fprintf(stdout, "allowed (band %s, score %.2f)\n", d.Band, d.Score)
		return nil
	}
	fmt.Fprintf(stdout, "refused (band %s, score %.2f): %s\n", d.Band, d.Score, d.Reason)
	detail := ""
	if d.Detail != "" {
		detail = ": " + d.Detail
	}
	return fmt.Errorf("intent %s refused by the gate: %s%s", in.ClientID, d.Reason, detail)
}
