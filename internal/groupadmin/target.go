package groupadmin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kraite/stream/topics"
)

// ErrUnknownTarget is wrapped by CheckTarget's refusals.
var ErrUnknownTarget = errors.New("not a replay target")

// CheckTarget refuses a replay of topic by group that cannot be what the
// operator meant: a reset commits offsets, which creates the group, so a
// typo would otherwise "succeed" and leave a stray group behind. A group
// the catalog declares (topics.Groups) must consume topic; a group the
// catalog does not know must already have committed offsets on topic,
// unless create is set. It returns the group's full name (a catalog
// suffix such as "sink.orders" is accepted and expanded).
func CheckTarget(ctx context.Context, adm *kadm.Client, prefix, group, topic string, create bool) (string, error) {
	if spec, ok := topics.LookupGroup(prefix, group); ok {
		full := spec.Name(prefix)
		if spec.Elects {
			return full, fmt.Errorf("%w: group %s only elects the scheduler's leader and commits no offsets", ErrUnknownTarget, full)
		}
		if !spec.Consumes(prefix, topic) {
			var ins []string
			for _, in := range spec.Inputs {
				ins = append(ins, in.Name(prefix))
			}
			return full, fmt.Errorf("%w: group %s does not consume %s (it reads %s)", ErrUnknownTarget, full, topic, strings.Join(ins, ", "))
		}
		return full, nil
	}
	committed, err := fetchCommitted(ctx, adm, group, topic)
	if err != nil {
		return group, err
	}
	has := false
	committed.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 {
			has = true
		}
	})
	if has || create {
		return group, nil
	}
	// A group with live members exists even before its first commit (the
	// reset then refuses it and names the members to stop).
	if live := checkEmpty(ctx, adm, group); live != nil {
		var le *LiveMembersError
		if errors.As(live, &le) {
			return group, nil
		}
	}
	return group, fmt.Errorf("%w: group %s is not one of this deployment's groups (prefix %q) and has no committed offsets on %s; "+
		"a typo? `kraite status` lists the groups (add --create to reset a new group anyway)", ErrUnknownTarget, group, prefix, topic)
}
