package jobs_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// env is a store, queue and log on a fresh Redis.
type env struct {
	srv   *redistest.Server
	store *jobs.Store
	log   *jobs.Log
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := redistest.Start(t)
	s := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
	return &env{srv: srv, store: s, log: jobs.NewLog(s, jobs.LogConfig{FlushEvery: 20 * time.Millisecond}, jobs.NewRedactor())}
}

// shellJob is a queued build of a plain directory running steps with bash.
func shellJob(t *testing.T, steps ...string) *jobs.Job {
	t.Helper()
	plan := spec.Plan{Name: "branch", Timeout: time.Minute, Env: map[string]string{}}
	for _, s := range steps {
		plan.Steps = append(plan.Steps, spec.Step{Name: s, Run: s})
	}
	return &jobs.Job{Kind: jobs.Build, Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(),
		Plan: plan, Requester: "U1", Origin: "chat", Channel: "C1"}
}

// waitState polls job id until it reaches want, failing after within.
func waitState(t *testing.T, s *jobs.Store, id int64, want jobs.State, within time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	var j *jobs.Job
	for time.Now().Before(deadline) {
		var err error
		j, err = s.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if j.State.Final() {
			t.Fatalf("job #%d ended %s (%s), want %s", id, j.State, j.Reason.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job #%d is %s after %s, want %s", id, j.State, within, want)
	return nil
}

// waitFile polls path until its content contains want.
func waitFile(t *testing.T, path, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never contained %q; it has %q", path, want, b)
}

// allEvents reads every event kept.
func allEvents(t *testing.T, s *jobs.Store) []jobs.Event {
	t.Helper()
	evs, err := s.ReadEvents(context.Background(), "0", 10000, 0)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}
