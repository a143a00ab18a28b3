package rdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

// TestTakeTickOnlyMovesForward covers takeTickScript's contract: nothing
// is taken of a schedule never begun; a later tick is taken once; the same
// or an earlier tick is refused; taking clears the previous tick's note.
func TestTakeTickOnlyMovesForward(t *testing.T) {
	ctx := context.Background()
	s := rdb.NewSchedules(rdb.New(redistest.Client(t)), "")
	t0 := time.UnixMilli(1_700_000_000_000)

	if ok, err := s.Take(ctx, "soak", t0); err != nil || ok {
		t.Fatalf("Take of a schedule never begun = %v, %v; want false", ok, err)
	}
	if err := s.Begin(ctx, "soak", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Begin(ctx, "soak", t0.Add(time.Hour)); err != nil { // a second Begin changes nothing
		t.Fatal(err)
	}
	if err := s.Skipped(ctx, "soak", 7, "skipped", t0); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tick time.Time
		want bool
	}{{t0, false}, {t0.Add(-time.Minute), false}, {t0.Add(time.Minute), true}, {t0.Add(time.Minute), false}} {
		if ok, err := s.Take(ctx, "soak", c.tick); err != nil || ok != c.want {
			t.Errorf("Take(%s) = %v, %v; want %v", c.tick.Sub(t0), ok, err, c.want)
		}
	}
	st, err := s.State(ctx, "soak")
	if err != nil {
		t.Fatal(err)
	}
	if !st.Tick.Equal(t0.Add(time.Minute)) || st.Job != 0 || st.Note != "" {
		t.Errorf("state after taking t0+1m = %+v; want that tick, no job, no note", st)
	}
}
