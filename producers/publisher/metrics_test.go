package publisher

import (
	"fmt"
	"testing"
)

// TestCountsSumReconnectsOverReasonsAndKeepGapsPerAccount: the status
// page's reconnect and gap counts are the metrics' series, summed over
// reasons, per (stream, account).
func TestCountsSumReconnectsOverReasonsAndKeepGapsPerAccount(t *testing.T) {
	if (*Metrics)(nil).Counts() != nil {
		t.Fatal("a nil *Metrics has counts")
	}
	m := NewMetrics(nil)
	m.Reconnect("userdata", "acct-1", "read_error")
	m.Reconnect("userdata", "acct-1", "idle")
	m.Reconnect("markprice", "", "read_error")
	m.Gap("acct-1")
	m.Gap("acct-1")
	m.Gap("acct-2")
	got := fmt.Sprint(m.Counts())
	want := fmt.Sprint([]StreamCount{{Stream: "markprice", Reconnects: 1}, {Stream: "userdata", Account: "acct-1", Reconnects: 2, Gaps: 2},
		{Stream: "userdata", Account: "acct-2", Gaps: 1}})
	if got != want {
		t.Fatalf("counts %s, want %s", got, want)
	}
}
