package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// runWithConfigGate runs a worker whose config gate reads cfg, and
// returns how many jobs reached the runner.
func runWithConfigGate(t *testing.T, e *env, cfg *spec.Server) *atomic.Int32 {
	t.Helper()
	var ran atomic.Int32
	run := funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) { ran.Add(1); return 0, nil })
	gate := &jobs.ConfigGate{Config: func() *spec.Server { return cfg }, AnyEnv: func(j *jobs.Job) bool { return j.Channel == "console" }}
	w := jobs.NewWorker(e.store, e.log, run, []jobs.Gate{gate}, jobs.WorkerConfig{Backoff: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &ran
}

// A deploy to an environment, or a job leasing from a pool, that the
// server config does not define (any more: it changed since the job was
// queued, or another gantry queued it) ends errored at once with what is
// missing and what is defined, for the thread, without running and
// without retries; the console's deploys may go to any environment.
func TestUnknownEnvironmentIsAUserErrorNeverRetried(t *testing.T) {
	e := newEnv(t)
	cfg, err := spec.ParseServer("gantry.yml", []byte("pools: {pg: [pg-1], redis: [r-1]}\nenvironments:\n  staging: {deployers: [\"*\"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ran := runWithConfigGate(t, e, cfg)
	ctx := context.Background()
	handle := ""
	deploy := func(env, channel string, pools ...string) *jobs.Job {
		j := shellJob(t, "true")
		j.Kind, j.Env, j.Channel, j.Plan.Resources, j.Handle = jobs.Deploy, env, channel, pools, handle
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	for _, tt := range []struct {
		j    *jobs.Job
		want string
	}{
		{deploy("qa", "C1"), `nothing ran: environment "qa" is not defined in gantry.yml (environments: staging), and this job deploys there`},
		{deploy("stagin", "C1", "mysql"), `nothing ran: pool "mysql" is not defined in gantry.yml (pools: pg, redis), and this job's .gantry.yml leases from it; ` +
			`environment "stagin" is not defined in gantry.yml (did you mean "staging"? environments: staging), and this job deploys there`},
		{deploy("qa", "console", "mysql"), `nothing ran: pool "mysql" is not defined in gantry.yml (pools: pg, redis), and this job's .gantry.yml leases from it`},
	} {
		got := waitState(t, e.store, tt.j.ID, jobs.Errored, 10*time.Second)
		if got.Reason.String() != tt.want || got.Attempt != 1 {
			t.Errorf("job %d ended %s after %d attempts:\n got %q\nwant %q", got.ID, got.State, got.Attempt, got.Reason, tt.want)
		}
	}
	for _, ev := range allEvents(t, e.store) {
		if ev.Type == jobs.EventRetry {
			t.Errorf("job %d was retried: %s", ev.Job, ev.Text)
		}
	}
	// What the config defines runs, and so does a console deploy anywhere;
	// and work that runs already (a worker re-attaching to its ECS task)
	// is the runner's to follow, whatever the config says now.
	ok := deploy("staging", "C1", "pg")
	anywhere := deploy("qa", "console")
	handle = "arn:aws:ecs:eu-west-1:123456789012:task/ci/1"
	attached := deploy("qa", "C1", "mysql")
	for _, j := range []*jobs.Job{ok, anywhere, attached} {
		waitState(t, e.store, j.ID, jobs.Succeeded, 10*time.Second)
	}
	if n := ran.Load(); n != 3 {
		t.Errorf("%d jobs reached the runner, want 3", n)
	}
}
