package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/pool"
)

// A job that asks for a pool the server does not have ends at once with
// why, without running and without retries (a webhook can queue one).
func TestJobOfUnknownPoolEndsWithoutRetries(t *testing.T) {
	e := newEnv(t)
	var ran atomic.Int32
	run := funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) { ran.Add(1); return 0, nil })
	gate := &jobs.ResourceGate{Known: func(string) bool { return false }}
	w := jobs.NewWorker(e.store, e.log, run, []jobs.Gate{gate}, jobs.WorkerConfig{Backoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	j := shellJob(t, "true")
	j.Plan.Resources = []string{"redis"}
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, e.store, j.ID, jobs.Errored, 10*time.Second)
	if !strings.Contains(got.Reason.String(), `pool "redis"`) || got.Attempt != 1 || ran.Load() != 0 {
		t.Errorf("job ended %s after %d attempts, %d runs: %q", got.State, got.Attempt, ran.Load(), got.Reason.String())
	}
}

// A pool gantry.yml defines now but this process did not start with (the
// config changed since) is a user error too: never retried, never run
// with an empty GANTRY_RESOURCE_MYSQL.
func TestPoolThisProcessLacksEndsWithoutRetries(t *testing.T) {
	e := newEnv(t)
	var ran atomic.Int32
	run := funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) { ran.Add(1); return 0, nil })
	pools := pool.New(e.srv.RDB(), map[string][]string{"pg": {"pg-1"}}, pool.Config{})
	gate := &jobs.ResourceGate{Pools: pools, Known: func(string) bool { return true }}
	w := jobs.NewWorker(e.store, e.log, run, []jobs.Gate{gate}, jobs.WorkerConfig{Backoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	j := shellJob(t, "true")
	j.Plan.Resources = []string{"mysql"}
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, e.store, j.ID, jobs.Errored, 10*time.Second)
	want := `nothing ran: this gantry process cannot lease what this job's .gantry.yml asks for: unknown pool "mysql" (pools: pg) (it reads the pools of gantry.yml when it starts)`
	if got.Reason.String() != want || got.Attempt != 1 || ran.Load() != 0 {
		t.Errorf("job ended %s after %d attempts, %d runs:\n got %q\nwant %q", got.State, got.Attempt, ran.Load(), got.Reason, want)
	}
}
