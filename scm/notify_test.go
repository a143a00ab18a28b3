package scm_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// notifyFixture is a fake GitHub, a real Redis, and a running Reporter and
// Notifier reporting the jobs of the store.
type notifyFixture struct {
	*fixture
	store    *jobs.Store
	reporter *scm.Reporter
	notifier *scm.Notifier
}

func link(id int64) string {
	return "https://gantry.example/jobs/" + strconv.FormatInt(id, 10) + "?exp=1&sig=abc"
}

func setupNotifier(t *testing.T) *notifyFixture {
	t.Helper()
	f := setup(t, scm.GitHubConfig{})
	store, redis := newStore(t)
	r := scm.NewReporter(f.gh, store, redis, scm.ReporterConfig{})
	runReporter(t, r)
	n := scm.NewNotifier(store, r, scm.NotifierConfig{Links: link, Consumer: "test"})
	if err := n.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = n.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &notifyFixture{fixture: f, store: store, reporter: r, notifier: n}
}

func (f *notifyFixture) create(t *testing.T, j *jobs.Job) *jobs.Job {
	t.Helper()
	if j.Plan.Steps == nil {
		j.Plan.Steps = []spec.Step{{Name: "make", Run: "make"}, {Name: "make test", Run: "make test"}}
	}
	if err := f.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *notifyFixture) move(t *testing.T, id int64, c jobs.Change) {
	t.Helper()
	if _, err := f.store.Transition(ctx, id, c); err != nil {
		t.Fatal(err)
	}
}

func (f *notifyFixture) step(t *testing.T, id int64, i int) {
	t.Helper()
	if err := f.store.Update(ctx, id, jobs.EventStep, say.F("step %d/2 started", i), jobs.Set().Step(i)); err != nil {
		t.Fatal(err)
	}
}

// waitStatus waits for status number n (1-based) of sha and returns it.
func (f *notifyFixture) waitStatus(t *testing.T, sha string, n int) githubserver.Status {
	t.Helper()
	st := f.srv.WaitStatuses(t, "acme/hello", sha, n, 10*time.Second)
	return st[n-1]
}

func describe(st []githubserver.Status) []string {
	var out []string
	for _, s := range st {
		out = append(out, s.Context+"="+s.State+" "+s.Description)
	}
	return out
}

func TestNotifierReportsABuildsProgressAsCommitStatuses(t *testing.T) {
	f := setupNotifier(t)
	j := f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.sha, GitHub: "acme/hello", Source: jobs.SourceGitHub})
	if st := f.waitStatus(t, f.sha, 1); st.State != "pending" || st.Description != "queued" || st.TargetURL != link(j.ID) || st.Context != "gantry/build" {
		t.Fatalf("first status = %+v", st)
	}
	start := time.Now()
	f.move(t, j.ID, jobs.Change{To: jobs.Running, Set: jobs.Set().Started(start)})
	f.waitStatus(t, f.sha, 2)
	f.step(t, j.ID, 1)
	f.waitStatus(t, f.sha, 3)
	f.step(t, j.ID, 1) // the step ended: nothing new to say
	f.step(t, j.ID, 2)
	f.waitStatus(t, f.sha, 4)
	f.move(t, j.ID, jobs.Change{To: jobs.Succeeded, Set: jobs.Set().Finished(start.Add(65 * time.Second))})
	f.waitStatus(t, f.sha, 5)
	flush(t, f.reporter)

	want := []string{
		"gantry/build=pending queued",
		"gantry/build=pending running",
		"gantry/build=pending running step 1 of 2",
		"gantry/build=pending running step 2 of 2",
		"gantry/build=success succeeded in 1m5s",
	}
	got := f.srv.Statuses("acme/hello", f.sha)
	if fmt.Sprint(describe(got)) != fmt.Sprint(want) {
		t.Errorf("statuses =\n%s\nwant\n%s", strings.Join(describe(got), "\n"), strings.Join(want, "\n"))
	}
	for _, st := range got {
		if st.TargetURL != link(j.ID) {
			t.Errorf("status %q links to %q, want the job's page", st.Description, st.TargetURL)
		}
	}
}

func TestNotifierReportsFailuresCancelsAndPullRequests(t *testing.T) {
	f := setupNotifier(t)
	failing := f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.sha, GitHub: "acme/hello"})
	f.waitStatus(t, f.sha, 1)
	f.move(t, failing.ID, jobs.Change{To: jobs.Running})
	f.waitStatus(t, f.sha, 2)
	f.move(t, failing.ID, jobs.Change{To: jobs.Failed, Set: jobs.Set().Reason("step 2 exited with code 3").Exit(3)})
	if st := f.waitStatus(t, f.sha, 3); st.State != "failure" || !strings.HasSuffix(st.Description, ": step 2 exited with code 3") {
		t.Errorf("failed build: status %+v", st)
	}

	pr := f.srv.AddCommit("acme/hello", "feature", map[string]string{"x": "1"})
	cancelled := f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "feature", SHA: pr, PR: 7, GitHub: "acme/hello", Origin: "github"})
	f.waitStatus(t, pr, 1)
	if _, err := f.store.Cancel(ctx, cancelled.ID, "a newer push to PR #7 (#9)"); err != nil {
		t.Fatal(err)
	}
	st := f.waitStatus(t, pr, 2)
	if st.Context != "gantry/pr" || st.State != "error" || st.Description != "cancelled by a newer push to PR #7 (#9)" {
		t.Errorf("cancelled PR build: status %+v", st)
	}

	errored := f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.sha, GitHub: "acme/hello"})
	f.waitStatus(t, f.sha, 4)
	f.move(t, errored.ID, jobs.Change{To: jobs.Queued, Type: jobs.EventRetry, Text: "errored: the task stopped; retrying in 5s (attempt 2 of 3)"})
	if st := f.waitStatus(t, f.sha, 5); st.State != "pending" || !strings.Contains(st.Description, "retrying in 5s") {
		t.Errorf("retried build: status %+v", st)
	}
	long := "gave up: " + strings.Repeat("the ECS task would not start ", 10)
	f.move(t, errored.ID, jobs.Change{To: jobs.Errored, Set: jobs.Set().Reason(say.Text(long))})
	if st := f.waitStatus(t, f.sha, 6); st.State != "error" || len([]rune(st.Description)) != 140 || !strings.HasPrefix(st.Description, "errored: gave up") {
		t.Errorf("errored build: status %+v", st)
	}
}

func TestNotifierLeavesJobsWithoutGitHubAlone(t *testing.T) {
	f := setupNotifier(t)
	local := f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "examples/hello", Ref: "main", SHA: f.sha, Source: jobs.SourceGit})
	f.move(t, local.ID, jobs.Change{To: jobs.Running})
	f.move(t, local.ID, jobs.Change{To: jobs.Succeeded})
	dir := f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", GitHub: "acme/hello", Source: jobs.SourceDir}) // no SHA
	f.move(t, dir.ID, jobs.Change{To: jobs.Cancelled})
	// A reported job after them: once it is seen, they have been handled.
	f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.sha, GitHub: "acme/hello"})
	f.waitStatus(t, f.sha, 1)
	flush(t, f.reporter)
	if got := f.srv.Statuses("acme/hello", f.sha); len(got) != 1 {
		t.Errorf("statuses = %v, want only the GitHub build's", describe(got))
	}
}

func TestNotifierMakesADeploymentWhenTheDeployRuns(t *testing.T) {
	f := setupNotifier(t)
	j := f.create(t, &jobs.Job{Kind: jobs.Deploy, Env: "staging", Repo: "hello", Ref: "main", SHA: f.sha, GitHub: "acme/hello", State: jobs.AwaitingApproval})
	f.move(t, j.ID, jobs.Change{To: jobs.Queued})
	f.move(t, j.ID, jobs.Change{To: jobs.Running, Set: jobs.Set().Started(time.Now())})
	f.srv.WaitFor(t, 10*time.Second, "a deployment in progress", func(s *githubserver.Server) bool {
		d := s.Deployments("acme/hello")
		return len(d) == 1 && len(d[0].Statuses) == 1
	})
	f.move(t, j.ID, jobs.Change{To: jobs.Succeeded})
	f.srv.WaitFor(t, 10*time.Second, "the deployment's success", func(s *githubserver.Server) bool {
		return len(s.Deployments("acme/hello")[0].Statuses) == 2
	})
	flush(t, f.reporter)

	ds := f.srv.Deployments("acme/hello")
	if len(ds) != 1 {
		t.Fatalf("%d deployments, want 1", len(ds))
	}
	d := ds[0]
	if d.SHA != f.sha || d.Environment != "staging" || d.AutoMerge || d.RequiredContexts == nil || !strings.Contains(d.Description, fmt.Sprintf("#%d", j.ID)) {
		t.Errorf("deployment = %+v", d)
	}
	if len(d.Statuses) != 2 || d.Statuses[0].State != "in_progress" || d.Statuses[1].State != "success" {
		t.Fatalf("deployment statuses = %+v", d.Statuses)
	}
	for _, st := range d.Statuses {
		if st.LogURL != link(j.ID) {
			t.Errorf("%s status has log_url %q, want the job's page", st.State, st.LogURL)
		}
	}
	got, err := f.store.Get(ctx, j.ID)
	if err != nil || got.Deployment != d.ID {
		t.Errorf("job record's deployment = %d (%v), want %d", got.Deployment, err, d.ID)
	}
	if n := len(f.srv.Statuses("acme/hello", f.sha)); n != 0 {
		t.Errorf("a deploy set %d commit statuses; it reports through its deployment", n)
	}
}

func TestNotifierDeployEndings(t *testing.T) {
	f := setupNotifier(t)
	statuses := func(n int) func(*githubserver.Server) bool {
		return func(s *githubserver.Server) bool {
			total := 0
			for _, d := range s.Deployments("acme/hello") {
				total += len(d.Statuses)
			}
			return total == n
		}
	}
	// Every job here starts and ends at the same instant, so the durations
	// the statuses name do not depend on how busy the machine is.
	at := time.Now()
	started, ended := jobs.Set().Started(at), jobs.Set().Finished(at)
	// Cancelled before it ran: nothing to record on GitHub.
	never := f.create(t, &jobs.Job{Kind: jobs.Deploy, Env: "production", Repo: "hello", SHA: f.sha, GitHub: "acme/hello", State: jobs.AwaitingApproval})
	if _, err := f.store.Cancel(ctx, never.ID, "U02"); err != nil {
		t.Fatal(err)
	}
	// Failed, after a retry that keeps its deployment.
	failed := f.create(t, &jobs.Job{Kind: jobs.Deploy, Env: "staging", Repo: "hello", SHA: f.sha, GitHub: "acme/hello"})
	f.move(t, failed.ID, jobs.Change{To: jobs.Running, Set: started})
	f.srv.WaitFor(t, 10*time.Second, "in_progress", statuses(1))
	f.move(t, failed.ID, jobs.Change{To: jobs.Queued, Type: jobs.EventRetry, Text: "errored: lost the task; retrying in 5s (attempt 2 of 3)"})
	f.srv.WaitFor(t, 10*time.Second, "queued", statuses(2))
	f.move(t, failed.ID, jobs.Change{To: jobs.Running})
	f.srv.WaitFor(t, 10*time.Second, "in_progress again", statuses(3))
	f.move(t, failed.ID, jobs.Change{To: jobs.Failed, Set: ended.Reason("step 1 exited with code 1")})
	f.srv.WaitFor(t, 10*time.Second, "failure", statuses(4))
	// Cancelled while it ran.
	stopped := f.create(t, &jobs.Job{Kind: jobs.Deploy, Env: "qa", Repo: "hello", SHA: f.sha, GitHub: "acme/hello"})
	f.move(t, stopped.ID, jobs.Change{To: jobs.Running, Set: started})
	f.srv.WaitFor(t, 10*time.Second, "in_progress", statuses(5))
	f.move(t, stopped.ID, jobs.Change{To: jobs.Cancelled, Set: ended.Reason("cancelled by U01")})
	f.srv.WaitFor(t, 10*time.Second, "error", statuses(6))
	// A deploy that ended before its start was reported shows only its end.
	quick := f.create(t, &jobs.Job{Kind: jobs.Deploy, Env: "dev", Repo: "hello", SHA: f.sha, GitHub: "acme/hello"})
	f.move(t, quick.ID, jobs.Change{To: jobs.Running, Set: started})
	f.move(t, quick.ID, jobs.Change{To: jobs.Succeeded, Set: ended})
	f.srv.WaitFor(t, 10*time.Second, "success", statuses(7))
	flush(t, f.reporter)

	var got []string
	for _, d := range f.srv.Deployments("acme/hello") {
		var sts []string
		for _, st := range d.Statuses {
			sts = append(sts, st.State+" "+st.Description)
		}
		got = append(got, d.Environment+": "+strings.Join(sts, " | "))
	}
	want := []string{
		"staging: in_progress running | queued errored: lost the task; retrying in 5s (attempt 2 of 3) | in_progress running | failure failed in 0s: step 1 exited with code 1",
		"qa: in_progress running | error cancelled by U01",
		"dev: success succeeded in 0s",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("deployments =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestNotifierDeploymentIsSharedBetweenProcesses(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	store, redis := newStore(t)
	ra, rb := scm.NewReporter(f.gh, store, redis, scm.ReporterConfig{}), scm.NewReporter(f.gh, store, redis, scm.ReporterConfig{})
	runReporter(t, ra)
	runReporter(t, rb)
	a := scm.NewNotifier(store, ra, scm.NotifierConfig{Links: link, Consumer: "a"})
	b := scm.NewNotifier(store, rb, scm.NotifierConfig{Links: link, Consumer: "b"})
	j := &jobs.Job{Kind: jobs.Deploy, Env: "staging", Repo: "hello", SHA: f.sha, GitHub: "acme/hello"}
	if err := store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Transition(ctx, j.ID, jobs.Change{To: jobs.Running, Set: jobs.Set().Started(time.Now())}); err != nil {
		t.Fatal(err)
	}
	// Process a sees the deploy start, process b its end.
	if err := a.Handle(ctx, jobs.Event{Job: j.ID, Type: jobs.EventState, State: jobs.Running}); err != nil {
		t.Fatal(err)
	}
	flush(t, ra)
	if _, err := store.Transition(ctx, j.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	if err := b.Handle(ctx, jobs.Event{Job: j.ID, Type: jobs.EventState, State: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	flush(t, rb)
	ds := f.srv.Deployments("acme/hello")
	if len(ds) != 1 || len(ds[0].Statuses) != 2 || ds[0].Statuses[1].State != "success" {
		t.Errorf("deployments = %+v, want one, in_progress then success", ds)
	}
}

func TestNotifierRetriesWhenGitHubFails(t *testing.T) {
	f := setupNotifier(t)
	f.srv.FailNext(githubserver.RouteCreateStatus, 2, 502)
	f.create(t, &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.sha, GitHub: "acme/hello"})
	if st := f.waitStatus(t, f.sha, 1); st.State != "pending" {
		t.Errorf("status = %+v", st)
	}
	// The server records a call once it has answered it: wait for the third.
	f.srv.WaitFor(t, 5*time.Second, "the third status call", func(s *githubserver.Server) bool {
		return s.CallCount(githubserver.RouteCreateStatus) >= 3
	})
	if n := f.srv.CallCount(githubserver.RouteCreateStatus); n != 3 {
		t.Errorf("%d calls to create the status, want 3 (two failed)", n)
	}
}
