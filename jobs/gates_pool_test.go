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
	gate := &jobs.ResourceGate{Known: func(string) bool { return false }}
	got, ran := endsAtTheGate(t, e, gate, "redis")
	if !strings.Contains(got.Reason.String(), `pool "redis"`) || got.Attempt != 1 || ran != 0 {
		t.Errorf("job ended %s after %d attempts, %d runs: %q", got.State, got.Attempt, ran, got.Reason.String())
	}
}

// A pool gantry.yml defines now but this process did not start with (the
// config changed since) is a user error too: never retried, never run
// with an empty GANTRY_RESOURCE_MYSQL.
func TestPoolThisProcessLacksEndsWithoutRetries(t *testing.T) {
	e := newEnv(t)
	pools := pool.New(e.srv.RDB(), map[string][]string{"pg": {"pg-1"}}, pool.Config{})
	gate := &jobs.ResourceGate{Pools: pools, Known: func(string) bool { return true }}
	got, ran := endsAtTheGate(t, e, gate, "mysql")
	want := `nothing ran: this gantry process cannot lease what this job's .gantry.yml asks for: unknown pool "mysql" (pools: pg) (it reads the pools of gantry.yml when it starts)`
	if got.Reason.String() != want || got.Attempt != 1 || ran != 0 {
		t.Errorf("job ended %s after %d attempts, %d runs:\n got %q\nwant %q", got.State, got.Attempt, ran, got.Reason, want)
	}
}

// endsAtTheGate runs a worker with gate alone, queues a job that leases from
// pool, and waits for it to end errored; it returns the job and how many
// times the runner ran.
func endsAtTheGate(t *testing.T, e *env, gate jobs.Gate, pool string) (*jobs.Job, int32) {
	t.Helper()
	var ran atomic.Int32
	run := funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) { ran.Add(1); return 0, nil })
	w := jobs.NewWorker(e.store, e.log, run, []jobs.Gate{gate}, jobs.WorkerConfig{Backoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	j := shellJob(t, "true")
	j.Plan.Resources = []string{pool}
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	return waitState(t, e.store, j.ID, jobs.Errored, 10*time.Second), ran.Load()
}
