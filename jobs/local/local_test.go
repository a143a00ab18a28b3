package local_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/spec"
)

type fixture struct {
	store *jobs.Store
	log   *jobs.Log
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	s := jobs.NewStore(redistest.Start(t).RDB(), jobs.StoreConfig{})
	return &fixture{store: s, log: jobs.NewLog(s, jobs.LogConfig{}, jobs.NewRedactor("s3cr3t-value"))}
}

// run creates j, runs it with r directly, and returns the exit code, the
// error and the whole log.
func (f *fixture) run(t *testing.T, r *local.Runner, j *jobs.Job) (int, error, string) {
	t.Helper()
	f.create(t, j)
	code, err := f.exec(context.Background(), r, j)
	return code, err, f.logOf(t, j.ID)
}

func (f *fixture) create(t *testing.T, j *jobs.Job) {
	t.Helper()
	if err := f.store.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
}

// exec runs the created job j with r until ctx ends; it may run outside
// the test's goroutine.
func (f *fixture) exec(ctx context.Context, r *local.Runner, j *jobs.Job) (int, error) {
	w := f.log.Writer(context.Background(), j.ID)
	code, err := r.Run(ctx, jobs.NewExecution(f.store, j, w))
	if cerr := w.Close(); cerr != nil && err == nil {
		err = cerr
	}
	return code, err
}

func (f *fixture) logOf(t *testing.T, id int64) string {
	t.Helper()
	all, err := f.log.All(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(all)
}

func plan(steps ...string) spec.Plan {
	p := spec.Plan{Name: "branch", Timeout: time.Minute, Env: map[string]string{}}
	for _, s := range steps {
		p.Steps = append(p.Steps, spec.Step{Name: s, Run: s})
	}
	return p
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestGitSourceIsCheckedOutAtTheJobsSHA(t *testing.T) {
	f := newFixture(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(repo, "version.txt"), []byte("one\n"), 0o644)
	git(t, repo, "add", ".")
	git(t, repo, "commit", "-q", "-m", "one")
	first := git(t, repo, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(repo, "version.txt"), []byte("two\n"), 0o644)
	git(t, repo, "commit", "-q", "-am", "two")

	j := &jobs.Job{Kind: jobs.Build, Repo: "app", Ref: "main", SHA: first, Source: jobs.SourceGit, Path: repo,
		Plan: plan(`echo "version $(cat version.txt) at $GANTRY_SHA of $GANTRY_REPO@$GANTRY_REF, job $GANTRY_JOB"`)}
	code, err, log := f.run(t, local.New(local.Config{}), j)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	want := "version one at " + first + " of app@main, job 1"
	if !strings.Contains(log, want) {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}

func TestUnknownSHAIsAPermanentUserError(t *testing.T) {
	f := newFixture(t)
	repo := t.TempDir()
	git(t, repo, "init", "-q")
	git(t, repo, "commit", "-q", "--allow-empty", "-m", "x")
	j := &jobs.Job{Repo: "app", SHA: strings.Repeat("ab", 20), Source: jobs.SourceGit, Path: repo, Plan: plan("true")}
	_, err, _ := f.run(t, local.New(local.Config{}), j)
	if !errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), "could not check out abababa in app") {
		t.Fatalf("err = %v", err)
	}
}

func TestStepsSeeOnlyTheirEnvironment(t *testing.T) {
	f := newFixture(t)
	t.Setenv("SLACK_BOT_TOKEN", "xoxb-not-for-steps")
	t.Setenv("GANTRY_SECRET_THING", "s3cr3t-value")
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("env | sort")}
	j.Plan.Env["CGO_ENABLED"] = "0"
	code, err, log := f.run(t, local.New(local.Config{}), j)
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v", code, err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "GANTRY_JOB=1", "GANTRY_REPO=scratch", "CI=true"} {
		if !strings.Contains(log, want) {
			t.Errorf("steps do not see %s", want)
		}
	}
	for _, bad := range []string{"SLACK_BOT_TOKEN", "xoxb-not-for-steps", "GANTRY_SECRET_THING"} {
		if strings.Contains(log, bad) {
			t.Errorf("steps see gantry's own %s", bad)
		}
	}
}

func TestSecretsAreRedactedInTheLog(t *testing.T) {
	f := newFixture(t)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(),
		Plan: plan(`echo "token s3cr3t-value and xoxb-1234567890-abcdefghij and AKIAABCDEFGHIJKLMNOP"`)}
	_, _, log := f.run(t, local.New(local.Config{}), j)
	if strings.Contains(log, "s3cr3t") || strings.Contains(log, "xoxb-1234") || strings.Contains(log, "AKIAABCD") {
		t.Fatalf("secret in log:\n%s", log)
	}
	if !strings.Contains(log, "token [redacted] and [redacted] and [redacted]") {
		t.Fatalf("log:\n%s", log)
	}
}

func TestLocalTimeoutExits124AsOnECS(t *testing.T) {
	f := newFixture(t)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("echo begun; sleep 30", "echo never")}
	j.Plan.Timeout = 300 * time.Millisecond
	began := time.Now()
	code, err, log := f.run(t, local.New(local.Config{Grace: 200 * time.Millisecond}), j)
	if err != nil {
		t.Fatal(err)
	}
	if code != 124 {
		t.Errorf("exit code %d, want 124 (as the ECS runner says)", code)
	}
	if time.Since(began) > 10*time.Second {
		t.Error("the timeout did not stop the step")
	}
	if !strings.Contains(log, "timed out after 300ms") || strings.Contains(log, "never\n") {
		t.Errorf("log:\n%s", log)
	}
}

func TestServicesAreRefusedByTheLocalRunner(t *testing.T) {
	f := newFixture(t)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("true")}
	j.Plan.Services = []spec.Service{{Name: "redis", Image: "redis:7"}}
	_, err, _ := f.run(t, local.New(local.Config{}), j)
	if !errors.Is(err, jobs.ErrPermanent) {
		t.Fatalf("err = %v, want permanent", err)
	}
	if got := jobs.UserMessage(err, 1).String(); got != "the local runner cannot start services (redis); run this job on the ecs runner" {
		t.Errorf("message = %q", got)
	}
}

func TestPlainDirectoryIsCopiedWithModesAndLinks(t *testing.T) {
	f := newFixture(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "run.sh"), []byte("#!/bin/sh\necho ran\n"), 0o755)
	os.Symlink("run.sh", filepath.Join(src, "link.sh"))
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: src, Plan: plan("./link.sh", "touch created")}
	code, err, log := f.run(t, local.New(local.Config{}), j)
	if err != nil || code != 0 || !strings.Contains(log, "ran\n") {
		t.Fatalf("code %d err %v log:\n%s", code, err, log)
	}
	if _, err := os.Stat(filepath.Join(src, "created")); err == nil {
		t.Error("a step wrote into the source directory instead of its workspace")
	}
}
