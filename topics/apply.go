package topics

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Action says what Apply did to one topic.
type Action string

// Actions reported by Apply.
const (
	ActionCreated   Action = "created"
	ActionUpdated   Action = "updated"
	ActionUnchanged Action = "unchanged"
)

// Result is the outcome of Apply for one topic.
type Result struct {
	Topic   string
	Action  Action
	Changes []string // human-readable list of what changed
}

// Apply creates every topic of specs that is missing and converges existing
// ones: cleanup policy and retention are altered, the partition count is
// raised when lower (never lowered: Kafka cannot, and keyed ordering would
// break). It is idempotent: a second run reports every topic unchanged.
// replication is the replication factor for new topics (-1 = broker default).
// Every failure is returned; nothing is logged and ignored.
func Apply(ctx context.Context, cl *kgo.Client, prefix string, specs []Spec, replication int16) ([]Result, error) {
	adm := kadm.NewClient(cl)
	details, err := describe(ctx, cl, prefix, specs)
	if err != nil {
		return nil, err
	}
	var (
		results []Result
		errs    []error
	)
	for _, s := range specs {
		r, err := applyOne(ctx, adm, s, s.Name(prefix), details, replication)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results = append(results, r)
	}
	return results, errors.Join(errs...)
}

// describe asks the broker directly (kadm caches metadata, which would hide
// topics created a moment ago) and never lets the request auto-create a topic
// with the broker's default partition count.
func describe(ctx context.Context, cl *kgo.Client, prefix string, specs []Spec) (map[string]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false
	for _, s := range specs {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(s.Name(prefix))
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("describing topics: %w", err)
	}
	parts := map[string]int32{}
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		switch err := kerr.ErrorForCode(t.ErrorCode); {
		case err == nil:
			parts[*t.Topic] = int32(len(t.Partitions))
		case errors.Is(err, kerr.UnknownTopicOrPartition):
		default:
			return nil, fmt.Errorf("describing topic %s: %w", *t.Topic, err)
		}
	}
	return parts, nil
}

func applyOne(ctx context.Context, adm *kadm.Client, s Spec, name string, parts map[string]int32, replication int16) (Result, error) {
	have, exists := parts[name]
	if !exists {
		resp, err := adm.CreateTopic(ctx, s.Partitions, replication, s.Configs(), name)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			return Result{}, fmt.Errorf("creating topic %s: %w", name, err)
		}
		return Result{Topic: name, Action: ActionCreated}, nil
	}
	r := Result{Topic: name, Action: ActionUnchanged}
	if have < s.Partitions {
		resp, err := adm.UpdatePartitions(ctx, int(s.Partitions), name)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			return Result{}, fmt.Errorf("raising partitions of %s to %d: %w", name, s.Partitions, err)
		}
		r.Changes = append(r.Changes, fmt.Sprintf("partitions %d -> %d", have, s.Partitions))
	} else if have > s.Partitions {
		r.Changes = append(r.Changes, fmt.Sprintf("partitions %d > declared %d (left as is: partitions cannot shrink)", have, s.Partitions))
	}
	changes, err := convergeConfigs(ctx, adm, s, name)
	if err != nil {
		return Result{}, err
	}
	r.Changes = append(r.Changes, changes...)
	if len(r.Changes) > 0 {
		r.Action = ActionUpdated
	}
	return r, nil
}

func convergeConfigs(ctx context.Context, adm *kadm.Client, s Spec, name string) ([]string, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("describing configs of %s: %w", name, err)
	}
	rc, err := rcs.On(name, nil)
	if err != nil {
		return nil, fmt.Errorf("describing configs of %s: %w", name, err)
	}
	current := map[string]string{}
	for _, c := range rc.Configs {
		current[c.Key] = c.MaybeValue()
	}
	want := s.Configs()
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var (
		alters  []kadm.AlterConfig
		changes []string
	)
	for _, k := range keys {
		v := *want[k]
		if current[k] == v {
			continue
		}
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: want[k]})
		changes = append(changes, fmt.Sprintf("%s %q -> %q", k, current[k], v))
	}
	if len(alters) == 0 {
		return nil, nil
	}
	resp, err := adm.AlterTopicConfigs(ctx, alters, name)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				err = r.Err
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("altering configs of %s: %w", name, err)
	}
	return changes, nil
}

// RetentionString renders a spec's retention for listings.
func (s Spec) RetentionString() string {
	if s.Compact {
		return "compact"
	}
	h := s.Retention.Hours()
	if h >= 24 && int(h)%24 == 0 {
		return strconv.Itoa(int(h)/24) + "d"
	}
	return s.Retention.String()
}
