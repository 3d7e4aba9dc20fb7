package groupadmin

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
)

func TestMeasureCountsCommittedRecordsPerPartition(t *testing.T) {
	plan := ReplayPlan{Group: "g", Topic: "t", Partitions: []PartitionPlan{
		{Partition: 0, Target: 10, Until: 20},
		{Partition: 1, Target: 0, Until: 5},
		{Partition: 2, Target: 7, Until: 7},
	}}
	commit := func(p int32, at int64) kadm.OffsetResponse {
		return kadm.OffsetResponse{Offset: kadm.Offset{Topic: "t", Partition: p, At: at}}
	}
	tests := []struct {
		name   string
		commit []kadm.OffsetResponse
		want   ProgressState
	}{
		{"nothing committed is nothing done", nil, ProgressState{Done: 0, Total: 15, Behind: 2}},
		{"commits at the targets are nothing done", []kadm.OffsetResponse{commit(0, 10), commit(1, 0)}, ProgressState{Done: 0, Total: 15, Behind: 2}},
		{"halfway in one partition counts half", []kadm.OffsetResponse{commit(0, 15), commit(1, 0)}, ProgressState{Done: 5, Total: 15, Behind: 2}},
		{"commits past the end count once", []kadm.OffsetResponse{commit(0, 99), commit(1, 5)}, ProgressState{Done: 15, Total: 15, Behind: 0}},
		{"a commit behind the target counts zero", []kadm.OffsetResponse{commit(0, 3), commit(1, 5)}, ProgressState{Done: 5, Total: 15, Behind: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os := make(kadm.OffsetResponses)
			for _, c := range tt.commit {
				os.Add(c)
			}
			if got := Measure(plan, os); got != tt.want {
				t.Fatalf("Measure = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRenderProgressDrawsABar(t *testing.T) {
	tests := []struct {
		name string
		s    ProgressState
		want string
	}{
		{"half done is half a bar", ProgressState{Done: 50, Total: 100, Behind: 3},
			"[#####-----]  50.0%  50/100 records  3 partitions behind  group g"},
		{"nothing to do is a full bar", ProgressState{}, "[##########] 100.0%  0/0 records  0 partitions behind  group g"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RenderProgress("g", tt.s, 10); got != tt.want {
				t.Fatalf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}
