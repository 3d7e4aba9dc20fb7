package groupadmin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrLiveMembers is matched (errors.Is) by every *LiveMembersError.
var ErrLiveMembers = errors.New("group has live members")

// LiveMembersError is Apply's refusal: the group still has members, which
// would reject the reset or overwrite it. Members says what to stop.
type LiveMembersError struct {
	Group   string
	State   string
	Members []Member
}

func (e *LiveMembersError) Error() string {
	return fmt.Sprintf("group %s has %d live member(s) (state %s); stop them before resetting: %s",
		e.Group, len(e.Members), e.State, e.Hosts())
}

// Is makes errors.Is(err, ErrLiveMembers) true.
func (e *LiveMembersError) Is(target error) bool { return target == ErrLiveMembers }

// Hosts lists "client-id@host" of every member, sorted, for the operator.
func (e *LiveMembersError) Hosts() string {
	hs := make([]string, 0, len(e.Members))
	for _, m := range e.Members {
		hs = append(hs, m.ClientID+"@"+m.Host)
	}
	sort.Strings(hs)
	return strings.Join(hs, ", ")
}

// Member is one consumer-group member as the broker describes it.
type Member struct {
	MemberID   string `json:"member_id"`
	InstanceID string `json:"instance_id,omitempty"`
	ClientID   string `json:"client_id"`
	Host       string `json:"host"`
	// Assigned is topic -> partitions (sorted); empty while rebalancing or
	// for non-consumer protocols.
	Assigned map[string][]int32 `json:"assigned,omitempty"`
}

func memberFrom(m kadm.DescribedGroupMember) Member {
	out := Member{MemberID: m.MemberID, ClientID: m.ClientID, Host: strings.TrimPrefix(m.ClientHost, "/")}
	if m.InstanceID != nil {
		out.InstanceID = *m.InstanceID
	}
	if c, ok := m.Assigned.AsConsumer(); ok && len(c.Topics) > 0 {
		out.Assigned = make(map[string][]int32, len(c.Topics))
		for _, t := range c.Topics {
			ps := append([]int32(nil), t.Partitions...)
			sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
			out.Assigned[t.Topic] = ps
		}
	}
	return out
}

// checkEmpty describes group and returns a *LiveMembersError unless it is
// Empty, Dead or unknown to the broker (a new group).
func checkEmpty(ctx context.Context, adm *kadm.Client, group string) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return fmt.Errorf("describing group %s: %w", group, err)
	}
	g, ok := described[group]
	if !ok {
		return nil
	}
	if g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
		return fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	if g.State == "Empty" || g.State == "Dead" || g.Err != nil {
		return nil
	}
	le := &LiveMembersError{Group: group, State: g.State}
	for _, m := range g.Members {
		le.Members = append(le.Members, memberFrom(m))
	}
	return le
}

// Apply commits plan's targets for its group. It refuses with a
// *LiveMembersError (errors.Is ErrLiveMembers) while the group has members:
// stop them first, or call WaitEmpty. Only the planned partitions change;
// the group's other topics and partitions keep their offsets.
func Apply(ctx context.Context, adm *kadm.Client, plan ReplayPlan) error {
	if len(plan.Partitions) == 0 {
		return fmt.Errorf("applying replay of %s on %s: the plan has no partitions", plan.Group, plan.Topic)
	}
	if err := checkEmpty(ctx, adm, plan.Group); err != nil {
		return err
	}
	resps, err := adm.CommitOffsets(ctx, plan.Group, plan.Offsets())
	if err != nil {
		return fmt.Errorf("committing offsets of group %s: %w", plan.Group, err)
	}
	if err := resps.Error(); err != nil {
		if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.RebalanceInProgress) || errors.Is(err, kerr.IllegalGeneration) {
			// A member joined between the check and the commit.
			return fmt.Errorf("committing offsets of group %s: %w (%w)", plan.Group, ErrLiveMembers, err)
		}
		return fmt.Errorf("committing offsets of group %s: %w", plan.Group, err)
	}
	return nil
}

// WaitEmpty polls every interval until group has no live members, calling
// onLive (may be nil) with each refusal so the operator sees whom to stop.
// It returns nil once the group is empty, or ctx's error.
func WaitEmpty(ctx context.Context, adm *kadm.Client, group string, interval time.Duration, onLive func(*LiveMembersError)) error {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		err := checkEmpty(ctx, adm, group)
		var le *LiveMembersError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &le):
			if onLive != nil {
				onLive(le)
			}
		default:
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for group %s to empty: %w", group, ctx.Err())
		case <-t.C:
		}
	}
}
