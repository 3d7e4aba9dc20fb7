package lookups

import (
	"fmt"
	"log/slog"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// # The processors' construction
//
// Dispatch, the gate and the regime processor are built the same way: one
// or two guarded Views of control tables (GuardConfig), quarantining what
// they refuse as the processor's group, then the processor of the group
// graph, then the Runner of both. Owner holds what those share, so each
// processor names only its tables, checks and graph.

// Owner is the processor that guarded Views belong to, and what it takes
// to build it beside them (NewRunner).
type Owner struct {
	// Name names the processor in errors ("dispatch": "creating dispatch
	// processor: ...").
	Name string
	// Kafka builds the processor's, the Views' and the quarantine
	// emitter's clients; nil with goka's testers.
	Kafka *kclient.Factory
	// Group is the processor's group, named in quarantine records and
	// alerts.
	Group goka.Group
	// Quarantine is the quarantine topic.
	Quarantine goka.Stream
	// ViewOptions, Quarantined and Log are the Views' (see GuardConfig).
	ViewOptions []goka.ViewOption
	Quarantined func(key string, rec *topics.QuarantineRecord)
	Log         *slog.Logger
}

// Guarded is the configuration of o's guarded View of table; the caller
// sets its Check or Parse (and KnownKey).
func (o Owner) Guarded(table goka.Table) GuardConfig {
	return GuardConfig{Kafka: o.Kafka, Table: table, Group: o.Group, Quarantine: o.Quarantine,
		ViewOptions: o.ViewOptions, Quarantined: o.Quarantined, Log: o.Log}
}

// NewRunner validates the group graph g, creates its processor with opts
// (kclient's GokaProcessorOptions, or goka.WithTester) and returns the
// Runner of the processor and of the Views its callbacks read, whose
// Guards it closes after them.
func (o Owner) NewRunner(g *goka.GroupGraph, opts []goka.ProcessorOption, views []*goka.View, guards ...*Guard) (*Runner, error) {
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("validating %s graph: %w", o.Name, err)
	}
	p, err := goka.NewProcessor(brokers(o.Kafka), g, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating %s processor: %w", o.Name, err)
	}
	return New(p, views...).Guard(guards...), nil
}
