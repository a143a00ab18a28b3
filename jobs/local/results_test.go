package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
)

const junitReport = `<testsuites>
  <testsuite name="api">
    <testcase classname="api.Users" name="TestCreate"/>
    <testcase classname="api.Users" name="TestDelete"><failure message="want 204, got 500">users_test.go:40: want 204, got 500</failure></testcase>
    <testcase classname="api.Users" name="TestLater"><skipped/></testcase>
  </testsuite>
</testsuites>`

// A job that fails still leaves its reports and artifacts; the record
// keeps the counts and the failing test, the store keeps the files, and a
// symlink out of the workspace is not kept.
func TestResultsAfterAFailure(t *testing.T) {
	f := newFixture(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "report.tmpl"), []byte(junitReport), 0o644); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("not for artifacts"), 0o644); err != nil {
		t.Fatal(err)
	}
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: src, Plan: plan(
		"mkdir -p build/test-results dist && cp report.tmpl build/test-results/api.xml",
		"echo app > dist/app.bin && ln -s "+outside+" dist/leak.txt && exit 3",
		"echo never")}
	j.Plan.Artifacts = []string{"dist/*"}
	j.Plan.Reports.JUnit = []string{"build/**/*.xml"}
	store := artifacts.Dir{Path: t.TempDir()}
	code, err, log := f.run(t, local.New(local.Config{Artifacts: store}), j)
	if err != nil || code != 3 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	for _, want := range []string{
		"── dist/leak.txt not kept: it is a symlink that points outside the workspace (or nowhere)",
		"── tests: 1 passed, 1 failed, 1 skipped (from 1 report file)",
		"── kept 1 artifact (4 B)",
	} {
		if !strings.Contains(log, want+"\n") {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	got, err := f.store.Get(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := got.Results
	if r == nil || r.Tests == nil || r.Tests.Counts() != "1 passed, 1 failed, 1 skipped" {
		t.Fatalf("results = %+v", r)
	}
	if fl := r.Tests.Failures; len(fl) != 1 || fl[0].Name != "api.Users.TestDelete" || fl[0].Message != "want 204, got 500" {
		t.Errorf("failures = %+v", fl)
	}
	if r.Store != artifacts.StoreDir || len(r.Files) != 1 || r.Files[0].Path != "dist/app.bin" {
		t.Errorf("artifacts = %q %+v", r.Store, r.Files)
	}
	b, err := os.ReadFile(filepath.Join(store.Path, "1", "dist", "app.bin"))
	if err != nil || string(b) != "app\n" {
		t.Errorf("stored file = %q, %v", b, err)
	}
}

// A cancelled job collects nothing.
func TestNoResultsAfterACancel(t *testing.T) {
	f := newFixture(t)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("mkdir dist && echo x > dist/a && sleep 30")}
	j.Plan.Artifacts = []string{"dist/*"}
	f.create(t, j)
	ctx, cancel := context.WithCancelCause(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = f.exec(ctx, local.New(local.Config{Artifacts: artifacts.Dir{Path: t.TempDir()}}), j)
	}()
	waitUntil(t, 10e9, "the step to start", func() bool { return strings.Contains(f.logOf(t, j.ID), "step 1/1") })
	cancel(&jobs.CancelError{By: "U1"})
	<-done
	got, err := f.store.Get(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Results != nil {
		t.Errorf("a cancelled job kept results: %+v", got.Results)
	}
}
