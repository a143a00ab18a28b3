package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
)

// A finished job's record, its place among recent jobs and its message
// index go after the retention; a job that has not ended keeps its record.
func TestFinishedJobsGoAfterTheRetention(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	rc := srv.Client()
	c := &clock{now: time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)}
	store := jobs.NewStore(srv.RDB(), jobs.StoreConfig{Now: c.Now, Retention: time.Hour})
	keys := rdb.NewKeys("")

	done := &jobs.Job{Kind: jobs.Build, Repo: "hello", Requester: "U1", Channel: "C1"}
	waiting := &jobs.Job{Kind: jobs.Build, Repo: "hello", Requester: "U1"}
	for _, j := range []*jobs.Job{done, waiting} {
		if err := store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.SetThread(ctx, done.ID, "C1", "1.0"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Transition(ctx, done.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{keys.Job(done.ID): time.Hour, keys.Message("C1", "1.0"): time.Hour, keys.Job(waiting.ID): -1} {
		ttl := rc.PTTL(ctx, key).Val()
		if (want < 0 && ttl >= 0) || (want > 0 && (ttl <= 0 || ttl > want)) {
			t.Errorf("%s lives %v more, want %v", key, ttl, want)
		}
	}

	// Two hours on, a new job trims the jobs created before the retention
	// from the recent list; the one still waiting stays in the queue's view.
	c.add(2 * time.Hour)
	if err := store.Create(ctx, &jobs.Job{Kind: jobs.Build, Repo: "hello"}); err != nil {
		t.Fatal(err)
	}
	if n := rc.ZCard(ctx, keys.Recent()).Val(); n != 1 {
		t.Errorf("the recent list keeps %d jobs, want only the new one", n)
	}
	if active, err := store.Active(ctx); err != nil || len(active) != 2 {
		t.Errorf("active jobs: %d, %v; want the waiting one and the new one", len(active), err)
	}
	// A record gone before its entry in a list is skipped, not an error.
	rc.Del(ctx, keys.Job(waiting.ID))
	if active, err := store.Active(ctx); err != nil || len(active) != 1 {
		t.Errorf("active jobs after a record went: %d, %v", len(active), err)
	}
}
