package groupadmin

import "testing"

func TestFormatRangesCompressesRuns(t *testing.T) {
	tests := []struct {
		name string
		in   []int32
		want string
	}{
		{"a full run is one range", []int32{3, 0, 1, 2}, "0-3"},
		{"gaps split ranges", []int32{0, 1, 2, 5, 7, 8}, "0-2,5,7-8"},
		{"one partition is itself", []int32{4}, "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatRanges(tt.in); got != tt.want {
				t.Fatalf("formatRanges(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
