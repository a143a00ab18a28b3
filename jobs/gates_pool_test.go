package jobs_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
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
