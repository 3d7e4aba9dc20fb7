package scheduler

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

func TestSlotsAlignAndJitterIsDeterministicWithinThePeriod(t *testing.T) {
	s := Schedule{Name: "order-sync", Every: 5 * time.Minute, Jitter: 30 * time.Second, Queue: topics.Cronjobs}
	at := time.Date(2026, 11, 22, 10, 7, 31, 0, time.UTC)
	slot := s.Slot(at)
	if want := time.Date(2026, 11, 22, 10, 5, 0, 0, time.UTC); !slot.Equal(want) {
		t.Fatalf("slot %s, want %s", slot, want)
	}
	for i := range 200 {
		sl := slot.Add(time.Duration(i) * s.Every)
		f := s.FireAt(sl)
		if f.Before(sl) || !f.Before(sl.Add(s.Jitter)) {
			t.Fatalf("fire %s outside [%s, +%s)", f, sl, s.Jitter)
		}
		if !f.Equal(s.FireAt(sl)) {
			t.Fatal("jitter is not deterministic")
		}
	}
	if JobID("order-sync", slot, "acct-1") != "order-sync@"+itoa(slot.UnixMilli())+"/acct-1" {
		t.Fatal(JobID("order-sync", slot, "acct-1"))
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestDeduperDropsRepeatsPerScheduleAndAccount(t *testing.T) {
	d := NewDeduper()
	job := func(typ, acct string, slot int64) topics.Job {
		return topics.Job{Type: typ, Account: acct, ScheduledMs: slot}
	}
	steps := []struct {
		j   topics.Job
		dup bool
	}{
		{job("sync", "a", 100), false},
		{job("sync", "a", 100), true}, // re-fired by a new leader
		{job("sync", "b", 100), false},
		{job("sync", "a", 200), false},
		{job("sync", "a", 100), true}, // late repeat of an older slot
		{job("klines", "", 100), false},
	}
	for i, s := range steps {
		if got := d.Duplicate(s.j); got != s.dup {
			t.Fatalf("step %d: duplicate=%v, want %v", i, got, s.dup)
		}
	}
}

func TestConfigValidationNamesTheProblem(t *testing.T) {
	_, err := New(Config{Kafka: kclient.ForBrokers("x"), Schedules: []Schedule{
		{Name: "a", Every: time.Second, Jitter: 2 * time.Second, Queue: topics.Cronjobs},
		{Name: "b", Every: time.Second, Queue: topics.Cronjobs, PerAccount: true},
	}}, nil)
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"jitter", "per account"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("%v lacks %q", err, want)
		}
	}
}

// A spread schedule fires every account exactly once per period, in the
// sub-slot its id hashes to, and the accounts spread over the sub-slots.
func TestSpreadFiresEveryAccountOncePerPeriodSpreadOverIt(t *testing.T) {
	s := Schedule{Name: "order-sync", Every: 5 * time.Minute, Jitter: time.Second, Queue: topics.Cronjobs, PerAccount: true, Spread: 60}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	x := s.expanded()
	if x.Every != 5*time.Second {
		t.Fatalf("sub-period %s, want 5s", x.Every)
	}
	const accounts = 1000
	perSub := map[int64]int{}
	start := s.Slot(time.Date(2026, 11, 22, 10, 7, 31, 0, time.UTC))
	for period := range 3 {
		fired := map[string]int{}
		for sub := range 60 {
			slot := start.Add(time.Duration(period)*s.Every + time.Duration(sub)*x.Every)
			for a := range accounts {
				acct := "acct-" + strconv.Itoa(a)
				if x.Fires(acct, slot) {
					fired[acct]++
					perSub[int64(sub)]++
				}
			}
		}
		for a := range accounts {
			if n := fired["acct-"+strconv.Itoa(a)]; n != 1 {
				t.Fatalf("period %d: account %d fired %d times", period, a, n)
			}
		}
	}
	for sub, n := range perSub {
		if n < 3*accounts/60/2 || n > 3*accounts/60*2 { // about 17 per sub-slot and period
			t.Fatalf("sub-slot %d fired %d accounts over 3 periods: not spread", sub, n)
		}
	}
	for _, bad := range []Schedule{
		{Name: "x", Every: time.Minute, Queue: topics.Cronjobs, Spread: 6},                                             // not per account
		{Name: "x", Every: time.Minute, Queue: topics.Cronjobs, PerAccount: true, Spread: 7},                           // 60 s / 7 not whole ms
		{Name: "x", Every: time.Minute, Jitter: 20 * time.Second, Queue: topics.Cronjobs, PerAccount: true, Spread: 6}, // jitter >= 10 s
	} {
		if bad.Validate() == nil {
			t.Errorf("%+v validated", bad)
		}
	}
}

// A per-account schedule is spread over its period in up to 60 sub-slots of
// at least a second, jittered by a tenth of a sub-slot; a period too short
// for two such sub-slots keeps one slot and a tenth of the period.
func TestSpreadedStaggersPerAccountSchedules(t *testing.T) {
	for _, tc := range []struct {
		every, jitter time.Duration
		spread        int
	}{
		{5 * time.Minute, 500 * time.Millisecond, 60},
		{30 * time.Minute, 3 * time.Second, 60},
		{7 * time.Second, 100 * time.Millisecond, 7},
		{1500 * time.Millisecond, 150 * time.Millisecond, 0},
	} {
		s := Spreaded(Schedule{Name: "order-sync", Every: tc.every, Queue: topics.Cronjobs, PerAccount: true})
		if s.Spread != tc.spread || s.Jitter != tc.jitter {
			t.Errorf("every %s: spread %d, jitter %s; want %d, %s", tc.every, s.Spread, s.Jitter, tc.spread, tc.jitter)
		}
		if err := s.Validate(); err != nil {
			t.Errorf("every %s: %v", tc.every, err)
		}
	}
}
