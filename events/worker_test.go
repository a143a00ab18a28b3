package events_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/spec"
)

// Jobs a real worker runs with the local runner reach the receiver as they
// move: queued, running, then succeeded or failed.
func TestWorkerJobsReachTheReceiver(t *testing.T) {
	r := newRig(t)
	rc := newReceiver(t, 0)
	r.start(t, rc.endpoint())

	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	log := jobs.NewLog(r.store, jobs.LogConfig{FlushEvery: 20 * time.Millisecond}, jobs.NewRedactor())
	w := jobs.NewWorker(r.store, log, local.New(local.Config{Grace: time.Second, Logger: logger}), nil,
		jobs.WorkerConfig{Concurrency: 2, Grace: time.Second, Logger: logger})
	ctx, cancel := context.WithCancel(bg)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	ok := shellBuild(t, "echo hello")
	bad := shellBuild(t, "echo bye", "exit 3")
	for _, j := range []*jobs.Job{ok, bad} {
		if err := r.store.Create(bg, j); err != nil {
			t.Fatal(err)
		}
	}
	got := rc.waitAccepted(t, 6, 60*time.Second)
	checkOnceInOrder(t, got, map[int64][]jobs.State{
		ok.ID:  {jobs.Queued, jobs.Running, jobs.Succeeded},
		bad.ID: {jobs.Queued, jobs.Running, jobs.Failed},
	})
	for _, g := range got {
		if g.Event.Job == bad.ID && g.Event.State == "failed" && g.Event.Reason == "" {
			t.Errorf("the failed event says no reason: %+v", g.Event)
		}
	}
}

// shellBuild is a build of a plain directory running steps with bash.
func shellBuild(t *testing.T, steps ...string) *jobs.Job {
	plan := spec.Plan{Name: "branch", Timeout: time.Minute, Env: map[string]string{}}
	for _, s := range steps {
		plan.Steps = append(plan.Steps, spec.Step{Name: s, Run: s})
	}
	return &jobs.Job{Kind: jobs.Build, Repo: "scratch", Ref: "main", Source: jobs.SourceDir, Path: t.TempDir(),
		Plan: plan, Requester: "U1", Origin: "chat", Channel: "C1"}
}
