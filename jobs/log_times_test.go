package jobs_test

import (
	"context"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// clock is a test's clock, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// Output is dated as it is taken, at most once a second: each line's time
// is the time of the newest date at or before its first byte.
func TestLogDatesOutputToTheSecond(t *testing.T) {
	start := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	c := &clock{now: start}
	e := newLogEnv(t, jobs.LogConfig{FlushEvery: time.Hour, Now: c.Now}, nil)
	ctx := context.Background()
	w := e.log.Writer(ctx, 5)
	write := func(s string) {
		t.Helper()
		fmt.Fprint(w, s)
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write("a\n")                      // 09:00:00.000 at byte 0
	c.add(400 * time.Millisecond)     //
	write("b\n")                      // 09:00:00.400: within the second, not dated again
	c.add(700 * time.Millisecond)     //
	write("c\nd\n")                   // 09:00:01.100 at byte 4
	c.add(5 * time.Second)            //
	write("e\n")                      // 09:00:06.100 at byte 8
	if err := w.Close(); err != nil { //
		t.Fatal(err)
	}
	times, err := e.log.Times(ctx, 5)
	if err != nil {
		t.Fatal(err)
	}
	want := []jobs.LogTime{{0, start}, {4, start.Add(1100 * time.Millisecond)}, {8, start.Add(6100 * time.Millisecond)}}
	if len(times) != len(want) {
		t.Fatalf("times %v, want %v", times, want)
	}
	for i := range want {
		if times[i].Offset != want[i].Offset || !times[i].Time.Equal(want[i].Time) {
			t.Errorf("time %d = %v, want %v", i, times[i], want[i])
		}
	}
	for off, at := range map[int64]time.Time{0: start, 2: start, 6: start.Add(1100 * time.Millisecond), 9: start.Add(6100 * time.Millisecond)} {
		if got := jobs.TimeAt(times, off); !got.Equal(at) {
			t.Errorf("TimeAt(%d) = %v, want %v", off, got, at)
		}
	}
	if ttl := e.rdb.PTTL(ctx, rdb.NewKeys("").LogTimes(5)).Val(); ttl <= 0 {
		t.Errorf("the log's dates never expire (PTTL %v)", ttl)
	}
}
