package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/pool"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// TestRepoConcurrencyKeepsBuildsInLine: a repo with concurrency: 1 runs one
// build at a time on a worker with room for three; the others wait, saying
// their place, and all run in the end. Each build takes a directory as a
// lock and fails if another build holds it.
func TestRepoConcurrencyKeepsBuildsInLine(t *testing.T) {
	f := newDeployFixture(t)
	dir := f.cfg.Repos["app"].Path
	lock := filepath.Join(t.TempDir(), "running")
	steps := fmt.Sprintf("pipelines:\n  branch:\n    steps: [\"mkdir %[1]s && sleep 0.4 && rmdir %[1]s\"]\n", lock)
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(steps), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf("repos:\n  app: {path: %s, channel: C0APPS, concurrency: 1}\n", dir)))
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Store: f.store, Log: f.log, Sources: scm.NewResolver(cfg, nil)})
	running := pool.New(f.rdb.RDB(), map[string][]string{jobs.RepoPool("app"): {"app-1"}}, pool.Config{Namespace: "gantry-running"})
	gates := []jobs.Gate{&jobs.RepoGate{Slots: running, Limit: func(repo string) int { return cfg.Repos[repo].Concurrency }}}
	w := jobs.NewWorker(f.store, f.log, local.New(local.Config{}), gates, jobs.WorkerConfig{Concurrency: 3})

	var ids []int64
	for range 3 {
		r := svc.Handle(context.Background(), &commands.Request{User: "U07", Channel: "C0APPS", Text: "build"})
		if r.Job == 0 {
			t.Fatalf("build queued nothing: %q", r.Text.Slack())
		}
		ids = append(ids, r.Job)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	sawWaiting := false
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && !sawWaiting {
		for _, id := range ids {
			j := f.job(t, id)
			if j.State == jobs.Waiting && strings.Contains(j.Reason.String(), "app runs at most 1 build(s) at once (1st in line)") {
				sawWaiting = true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !sawWaiting {
		t.Error("no build said it waits for its place in line")
	}
	for _, id := range ids {
		waitJob(t, f, id, jobs.Succeeded) // a build that ran beside another fails on the lock
	}
}
