package groupadmin

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
)

// GroupStatus is one consumer group as `kraite status` shows it.
type GroupStatus struct {
	Group        string            `json:"group"`
	State        string            `json:"state"`
	ProtocolType string            `json:"protocol_type,omitempty"`
	Protocol     string            `json:"protocol,omitempty"`
	Members      []Member          `json:"members"`
	Partitions   []PartitionStatus `json:"partitions"`
	// TotalLag sums the lag of partitions whose lag is known.
	TotalLag int64 `json:"total_lag"`
	// Err is why the group could not be described or its offsets fetched.
	Err string `json:"error,omitempty"`
}

// PartitionStatus is one partition a group consumes or has committed to.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	// Committed is the group's committed offset, -1 when none.
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	// Lag is End minus Committed (from the log start when nothing is
	// committed), -1 when unknown (see Err).
	Lag int64 `json:"lag"`
	// MemberID, ClientID and Host name the member assigned this partition;
	// empty when the group has no members.
	MemberID string `json:"member_id,omitempty"`
	ClientID string `json:"client_id,omitempty"`
	Host     string `json:"host,omitempty"`
	Err      string `json:"error,omitempty"`
}

// Status describes groups (every group on the cluster when none are named):
// state, protocol, members with their assignments, and per topic and
// partition the committed offset, end offset and lag. Groups come back sorted
// by name; a group that cannot be described is still listed, with Err set.
func Status(ctx context.Context, adm *kadm.Client, groups ...string) ([]GroupStatus, error) {
	if len(groups) == 0 {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing groups: %w", err)
		}
		groups = listed.Groups()
		if len(groups) == 0 {
			return nil, nil
		}
	}
	lags, err := adm.Lag(ctx, groups...)
	if err != nil {
		return nil, fmt.Errorf("calculating group lag: %w", err)
	}
	out := make([]GroupStatus, 0, len(lags))
	for _, l := range lags.Sorted() {
		out = append(out, groupStatus(l))
	}
	return out, nil
}

func groupStatus(l kadm.DescribedGroupLag) GroupStatus {
	gs := GroupStatus{Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol, Members: []Member{}, Partitions: []PartitionStatus{}}
	if err := l.Error(); err != nil {
		gs.Err = err.Error()
	}
	for _, m := range l.Members {
		gs.Members = append(gs.Members, memberFrom(m))
	}
	sort.Slice(gs.Members, func(i, j int) bool { return gs.Members[i].MemberID < gs.Members[j].MemberID })
	for _, ml := range l.Lag.Sorted() {
		ps := PartitionStatus{Topic: ml.Topic, Partition: ml.Partition, Committed: ml.Commit.At, End: ml.End.Offset, Lag: ml.Lag}
		if ml.Member != nil {
			ps.MemberID, ps.ClientID = ml.Member.MemberID, ml.Member.ClientID
			ps.Host = memberFrom(*ml.Member).Host
		}
		if ml.Err != nil {
			ps.Err = ml.Err.Error()
		}
		if ps.Lag > 0 {
			gs.TotalLag += ps.Lag
		}
		gs.Partitions = append(gs.Partitions, ps)
	}
	return gs
}
