package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
)

// A job's record writes wait for a Redis that is away and land once it is
// back: the job moves on instead of failing.
func TestRecordWritesRideOutRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	if !srv.Real {
		t.Fatal("this test needs a real redis-server")
	}
	store := jobs.NewStore(srv.RDB(), jobs.StoreConfig{WriteRetryFor: time.Minute})
	ctx := context.Background()
	j := &jobs.Job{Kind: jobs.Build, Repo: "app", Requester: "U01"}
	if err := store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	done := make(chan error, 2)
	go func() {
		_, err := store.Transition(ctx, j.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Running})
		done <- err
	}()
	go func() { done <- store.Update(ctx, j.ID, jobs.EventStep, "step 1/1 started", jobs.Set().Step(1)) }()
	time.Sleep(1500 * time.Millisecond) // Redis stays away a while: the writes are waiting
	select {
	case err := <-done:
		t.Fatalf("a write gave up while Redis was away: %v", err)
	default:
	}
	srv.StartAgain()
	for i := 0; i < 2; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("write after Redis came back: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("a write did not land after Redis came back")
		}
	}
	got, err := store.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != jobs.Running || got.Step != 1 {
		t.Errorf("job is %s at step %d, want running at step 1", got.State, got.Step)
	}
}
