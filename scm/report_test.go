package scm_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

func flush(t *testing.T, r *scm.Reporter) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := r.Flush(c); err != nil {
		t.Fatal(err)
	}
}

func states(st []githubserver.Status) []string {
	var out []string
	for _, s := range st {
		out = append(out, s.Context+"="+s.State)
	}
	return out
}

func TestReporterDeliversInOrder(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	other := f.srv.AddCommit("acme/hello", "feature", map[string]string{"x": "1"})
	id, err := f.gh.CreateDeployment(ctx, "acme/hello", f.sha, "staging", "deploy #3")
	if err != nil {
		t.Fatal(err)
	}
	r := newReporter(t, f.gh, scm.ReporterConfig{})
	runReporter(t, r)

	var want, wantOther []string
	for i, state := range []string{"pending", "pending", "success", "failure", "error", "success"} {
		desc := fmt.Sprintf("step %d", i)
		r.Status("acme/hello", f.sha, scm.CommitStatus{State: state, Description: desc})
		want = append(want, "gantry/build="+state)
		r.Status("acme/hello", other, scm.CommitStatus{State: state, Context: "gantry/pr"})
		wantOther = append(wantOther, "gantry/pr="+state)
	}
	r.Deployment("acme/hello", id, "queued", "", "waiting for approval")
	r.Deployment("acme/hello", id, "in_progress", "https://gantry.example/jobs/3", "deploying")
	r.Deployment("acme/hello", id, "success", "https://gantry.example/jobs/3", "deployed")
	flush(t, r)

	if got := states(f.srv.Statuses("acme/hello", f.sha)); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses of %s = %v, want %v", f.sha[:7], got, want)
	}
	for i, st := range f.srv.Statuses("acme/hello", f.sha) {
		if st.Description != fmt.Sprintf("step %d", i) {
			t.Errorf("status %d has description %q", i, st.Description)
		}
	}
	if got := states(f.srv.Statuses("acme/hello", other)); fmt.Sprint(got) != fmt.Sprint(wantOther) {
		t.Errorf("statuses of %s = %v, want %v", other[:7], got, wantOther)
	}
	d, _ := f.srv.Deployment(id)
	if len(d.Statuses) != 3 || d.Statuses[0].State != "queued" || d.Statuses[1].State != "in_progress" ||
		d.Statuses[2].State != "success" || d.Statuses[2].LogURL != "https://gantry.example/jobs/3" {
		t.Errorf("deployment statuses = %+v", d.Statuses)
	}
}

// blockingTransport holds every request until release is closed.
type blockingTransport struct {
	release chan struct{}
	once    sync.Once
}

func (b *blockingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case <-b.release:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return http.DefaultTransport.RoundTrip(req)
}

func (b *blockingTransport) open() { b.once.Do(func() { close(b.release) }) }

func TestReporterNeverBlocks(t *testing.T) {
	bt := &blockingTransport{release: make(chan struct{})}
	f := setup(t, scm.GitHubConfig{HTTPClient: &http.Client{Transport: bt}})
	t.Cleanup(bt.open)
	r := newReporter(t, f.gh, scm.ReporterConfig{})

	// Before Run, and while GitHub does not answer, queuing returns at once.
	const n = 300
	start := time.Now()
	for i := range n / 2 {
		r.Status("acme/hello", f.sha, scm.CommitStatus{State: "pending", Description: fmt.Sprint(i)})
	}
	runReporter(t, r)
	for i := n / 2; i < n; i++ {
		r.Status("acme/hello", f.sha, scm.CommitStatus{State: "pending", Description: fmt.Sprint(i)})
	}
	// Each is a write to Redis, never a wait for GitHub (which hangs).
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("queuing %d statuses took %v while GitHub hung", n, d)
	}
	if got := len(f.srv.Statuses("acme/hello", f.sha)); got != 0 {
		t.Fatalf("%d statuses arrived through a blocked transport", got)
	}
	c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := r.Flush(c); err == nil {
		t.Error("Flush returned before anything was delivered")
	}

	bt.open()
	flush(t, r)
	got := f.srv.Statuses("acme/hello", f.sha)
	if len(got) != n {
		t.Fatalf("%d statuses delivered, want %d", len(got), n)
	}
	for i, st := range got {
		if st.Description != fmt.Sprint(i) {
			t.Fatalf("status %d has description %q: out of order", i, st.Description)
		}
	}
}

func TestReporterRetriesAndGivesUp(t *testing.T) {
	f := setup(t, scm.GitHubConfig{MaxRetries: 1})
	var mu sync.Mutex
	failed := map[string]int{}
	r := newReporter(t, f.gh, scm.ReporterConfig{CallFailed: func(call string) {
		mu.Lock()
		defer mu.Unlock()
		failed[call]++
	}})
	runReporter(t, r)

	// Three 502s: the first round (2 attempts) fails, the second succeeds,
	// and the next status for the commit follows it.
	f.srv.FailNext(githubserver.RouteCreateStatus, 3, http.StatusBadGateway)
	r.Status("acme/hello", f.sha, scm.CommitStatus{State: "pending"})
	r.Status("acme/hello", f.sha, scm.CommitStatus{State: "success"})
	// GitHub refuses these (422, 404): logged and dropped at once.
	unknown := "0123456789012345678901234567890123456789"
	r.Status("acme/hello", unknown, scm.CommitStatus{State: "success"})
	r.Deployment("acme/hello", 424242, "success", "", "")
	flush(t, r)

	if got := states(f.srv.Statuses("acme/hello", f.sha)); fmt.Sprint(got) != "[gantry/build=pending gantry/build=success]" {
		t.Errorf("statuses = %v", got)
	}
	if n := f.srv.CallCount(githubserver.RouteCreateStatus); n != 6 {
		t.Errorf("status calls = %d, want 6 (4 for the first, 1 each after)", n)
	}
	logs := f.logs.String()
	if !contains(logs, "GitHub report failed; will try again", "GitHub report not delivered", "sha="+unknown, "No commit found", "deployment=424242") {
		t.Errorf("log:\n%s", logs)
	}

	// A report that keeps failing is given up after 12 rounds.
	f.srv.FailNext(githubserver.RouteCreateStatus, 100, http.StatusInternalServerError)
	r.Status("acme/hello", f.sha, scm.CommitStatus{State: "error"})
	flush(t, r)
	if n := f.srv.CallCount(githubserver.RouteCreateStatus); n != 6+24 {
		t.Errorf("status calls = %d, want %d (12 rounds of 2 attempts)", n, 6+24)
	}
	if !contains(f.logs.String(), "GitHub report not delivered: giving up", "attempts=12") {
		t.Errorf("log:\n%s", f.logs)
	}
	mu.Lock()
	if failed["create_status"] < 14 || failed["create_deployment_status"] != 1 || len(failed) != 2 {
		t.Errorf("failed calls counted = %v, want a failed round of the first, the refusal and 12 rounds of statuses, and one deployment status", failed)
	}
	mu.Unlock()
	deadLetters, err := r.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	var why []string
	for _, d := range deadLetters {
		why = append(why, d.Queue+": "+d.Error)
	}
	slices.Sort(why[1:]) // the two refusals came at once
	if len(why) != 3 || !strings.HasPrefix(why[0], "status:acme/hello@"+f.sha+": ") || !strings.Contains(why[0], "500") ||
		!strings.HasPrefix(why[1], "deployment:acme/hello#424242: ") || !strings.HasPrefix(why[2], "status:acme/hello@"+unknown+": ") {
		t.Errorf("dead letters, newest first:\n%s", strings.Join(why, "\n"))
	}
	if n, err := r.Depth(ctx); n != 0 || err != nil {
		t.Errorf("outbox depth %d (%v) after every report was sent or given up", n, err)
	}
}

func TestStatusPostedAfterGantryWasKilledBeforeSendingIt(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	srv := redistest.Start(t)
	id, err := f.gh.CreateDeployment(ctx, "acme/hello", f.sha, "staging", "deploy #3")
	if err != nil {
		t.Fatal(err)
	}
	// The first gantry queues its reports and is killed before its
	// Reporter sends any of them.
	first := scm.NewReporter(f.gh, jobs.NewStore(srv.RDB(), jobs.StoreConfig{}), rdb.New(srv.Client()), scm.ReporterConfig{})
	for _, state := range []string{"pending", "success"} {
		if err := first.Status("acme/hello", f.sha, scm.CommitStatus{State: state, Description: state}); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Deployment("acme/hello", id, "success", "", "deployed"); err != nil {
		t.Fatal(err)
	}
	if n := len(f.srv.Statuses("acme/hello", f.sha)); n != 0 {
		t.Fatalf("%d statuses sent without a Reporter running", n)
	}
	// The next gantry, with a client of its own on the same Redis, sends
	// them, in order.
	next := scm.NewReporter(f.gh, jobs.NewStore(srv.RDB(), jobs.StoreConfig{}), rdb.New(srv.Client()), scm.ReporterConfig{})
	runReporter(t, next)
	flush(t, next)
	if got := states(f.srv.Statuses("acme/hello", f.sha)); fmt.Sprint(got) != "[gantry/build=pending gantry/build=success]" {
		t.Errorf("statuses after the restart = %v", got)
	}
	if d, _ := f.srv.Deployment(id); len(d.Statuses) != 1 || d.Statuses[0].Description != "deployed" {
		t.Errorf("deployment statuses after the restart = %+v", d.Statuses)
	}
}

func TestReporterDrainsWhenStopped(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	r := newReporter(t, f.gh, scm.ReporterConfig{})
	cancel := runReporter(t, r)
	f.srv.FailNext(githubserver.RouteCreateStatus, 1, http.StatusBadGateway)
	for _, st := range []string{"pending", "success"} {
		r.Status("acme/hello", f.sha, scm.CommitStatus{State: st})
	}
	cancel()
	flush(t, r)
	if got := states(f.srv.Statuses("acme/hello", f.sha)); fmt.Sprint(got) != "[gantry/build=pending gantry/build=success]" {
		t.Errorf("statuses delivered while stopping = %v", got)
	}
}

func TestReporterKeepsReportsWhenStoppedWhileGitHubIsDown(t *testing.T) {
	f := setup(t, scm.GitHubConfig{RetryBase: 200 * time.Millisecond})
	f.srv.FailNext(githubserver.AnyRoute, 1000, http.StatusBadGateway)
	r := newReporter(t, f.gh, scm.ReporterConfig{})
	c, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(c)
	}()
	for i := range 10 {
		r.Status("acme/hello", f.sha, scm.CommitStatus{State: "pending", Description: fmt.Sprint(i)})
		r.Deployment("acme/hello", int64(i+1), "success", "", "")
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	stopped := time.Now()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(stopped); d > 5*time.Second {
		t.Errorf("Run took %v to return after its context ended", d)
	}
	if n, err := r.Depth(ctx); err != nil || n != 20 {
		t.Errorf("outbox depth after the stop = %d (%v), want all 20 reports kept", n, err)
	}
	if !contains(f.logs.String(), "GitHub report left in the outbox: gantry is stopping") {
		t.Errorf("log:\n%s", f.logs)
	}
	if strings.Contains(f.logs.String(), "not delivered") {
		t.Errorf("a report was given up on while stopping:\n%s", f.logs)
	}
}

func TestNilReporter(t *testing.T) {
	var r *scm.Reporter
	r.Status("acme/hello", "x", scm.CommitStatus{State: "success"})
	r.Deployment("acme/hello", 1, "success", "", "")
	r.Run(ctx)
	if err := r.Flush(ctx); err != nil {
		t.Error(err)
	}
}
