package scm_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

var ctx = context.Background()

func TestResolve(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	feature := f.srv.AddCommit("acme/hello", "feature/login", map[string]string{"login.go": "package main\n"})
	f.srv.AddTag("acme/hello", "v1.2.0", f.sha)

	sha, cloneURL, def, err := f.gh.Resolve(ctx, "acme/hello", "")
	if err != nil {
		t.Fatal(err)
	}
	if sha != f.sha || cloneURL != f.srv.CloneURL("acme/hello") || def != "main" {
		t.Errorf("Resolve(default) = %s, %s, %s; want %s, %s, main", sha, cloneURL, def, f.sha, f.srv.CloneURL("acme/hello"))
	}
	for ref, want := range map[string]string{"main": f.sha, "feature/login": feature, "v1.2.0": f.sha, feature: feature, feature[:8]: feature} {
		if got, _, _, err := f.gh.Resolve(ctx, "acme/hello", ref); err != nil || got != want {
			t.Errorf("Resolve(%q) = %q, %v; want %s", ref, got, err, want)
		}
	}
	// The SHA is asked for with the sha media type, as plain text.
	calls := f.srv.Calls(githubserver.RouteGetCommit)
	if got := calls[0].Header.Get("Accept"); got != "application/vnd.github.v3.sha" {
		t.Errorf("Accept = %q", got)
	}
	if got := calls[0].Header.Get("Authorization"); got != "Bearer "+githubserver.Token {
		t.Errorf("Authorization = %q", got)
	}
}

func TestResolveErrors(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	f.srv.AddRepo("acme/empty", "main")
	for _, tc := range []struct {
		repo, ref string
		want      string
		calls     int
	}{
		{"acme/hello", "nope", `acme/hello has no branch, tag or commit called "nope"`, 2},
		{"acme/missing", "", "GitHub has no repository acme/missing, or gantry's token may not read it", 1},
		{"acme/empty", "", "acme/empty is empty: it has no commits yet", 2},
		{"acme/hello", "../../../user", `"../../../user" is not a valid branch, tag or commit name`, 0},
		{"acme/hello", "a b", `"a b" is not a valid branch, tag or commit name`, 0},
		{"acme/hello", "-x", `"-x" is not a valid branch, tag or commit name`, 0},
		{"acme/hello", "x.lock", `"x.lock" is not a valid branch, tag or commit name`, 0},
		{"hello", "", `"hello" is not a GitHub repository: want owner/name`, 0},
		{"acme/../x", "", `"acme/../x" is not a GitHub repository: want owner/name`, 0},
	} {
		before := f.srv.CallCount(githubserver.AnyRoute)
		_, _, _, err := f.gh.Resolve(ctx, tc.repo, tc.ref)
		if got := userMessage(t, err); got != tc.want {
			t.Errorf("Resolve(%q, %q): %q, want %q", tc.repo, tc.ref, got, tc.want)
		}
		wantPermanent(t, err)
		if n := f.srv.CallCount(githubserver.AnyRoute) - before; n != tc.calls {
			t.Errorf("Resolve(%q, %q) made %d calls, want %d (no retries)", tc.repo, tc.ref, n, tc.calls)
		}
	}
}

func TestReadFile(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	second := f.srv.AddCommit("acme/hello", "main", map[string]string{
		".gantry.yml": "image: alpine\n", "main.go": githubserver.Remove, "docs/a.md": "# A\n",
		"big.bin": strings.Repeat("x", githubserver.MaxContentSize+1),
	})
	data, err := f.gh.ReadFile(ctx, "acme/hello", f.sha, scm.SpecFile)
	if err != nil || string(data) != gantryYML {
		t.Errorf("ReadFile at the first commit = %q, %v", data, err)
	}
	if data, err := f.gh.ReadFile(ctx, "acme/hello", second, scm.SpecFile); err != nil || string(data) != "image: alpine\n" {
		t.Errorf("ReadFile at the second commit = %q, %v", data, err)
	}
	if q := f.srv.Calls(githubserver.RouteGetContents)[0].Query; q != "ref="+f.sha {
		t.Errorf("query = %q, want the commit's SHA as ref", q)
	}
	for path, want := range map[string]string{
		"main.go": "acme/hello has no main.go at " + second[:7],
		"docs":    "docs in acme/hello at " + second[:7] + " is a directory, not a file",
		"big.bin": "big.bin in acme/hello at " + second[:7] + " is 1048577 bytes; gantry reads files of at most 1048576 bytes (1 MiB)",
	} {
		_, err := f.gh.ReadFile(ctx, "acme/hello", second, path)
		if got := userMessage(t, err); got != want {
			t.Errorf("ReadFile(%s) = %q, want %q", path, got, want)
		}
		wantPermanent(t, err)
	}

	f.srv.AddRepo("acme/bare", "main")
	bare := f.srv.AddCommit("acme/bare", "main", map[string]string{"README": "x"})
	_, err = f.gh.ReadFile(ctx, "acme/bare", bare, scm.SpecFile)
	if got, want := userMessage(t, err), "acme/bare has no .gantry.yml at "+bare[:7]; got != want {
		t.Errorf("missing .gantry.yml: %q, want %q", got, want)
	}
	if _, err := f.gh.ReadFile(ctx, "acme/hello", second, "../etc/passwd"); err == nil || !errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("path with ..: %v", err)
	}
}

func TestSetStatus(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	long := strings.Repeat("ü", 200)
	err := f.gh.SetStatus(ctx, "acme/hello", f.sha, scm.CommitStatus{
		State: "pending", TargetURL: "https://gantry.example/jobs/42?sig=x", Description: "build #42 is running",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.gh.SetStatus(ctx, "acme/hello", f.sha, scm.CommitStatus{State: "failure", Description: long, Context: "gantry/deploy"}); err != nil {
		t.Fatal(err)
	}
	got := f.srv.Statuses("acme/hello", f.sha)
	if len(got) != 2 {
		t.Fatalf("statuses = %+v", got)
	}
	if g := got[0]; g.State != "pending" || g.Context != "gantry/build" || g.TargetURL != "https://gantry.example/jobs/42?sig=x" || g.Description != "build #42 is running" {
		t.Errorf("first = %+v", g)
	}
	if g := got[1]; g.State != "failure" || g.Context != "gantry/deploy" || g.TargetURL != "" ||
		utf8.RuneCountInString(g.Description) != 140 || !strings.HasSuffix(g.Description, "ü…") {
		t.Errorf("second = %+v (description of %d characters)", g, utf8.RuneCountInString(g.Description))
	}

	for _, tc := range []struct {
		sha   string
		state string
	}{{f.sha, "done"}, {f.sha, ""}, {"main", "success"}, {strings.ToUpper(f.sha), "success"}} {
		err := f.gh.SetStatus(ctx, "acme/hello", tc.sha, scm.CommitStatus{State: tc.state})
		if err == nil {
			t.Errorf("SetStatus(%s, %q) succeeded", tc.sha, tc.state)
		}
		wantPermanent(t, err)
	}
	// A SHA GitHub does not know: 422, not retried.
	before := f.srv.CallCount(githubserver.RouteCreateStatus)
	err = f.gh.SetStatus(ctx, "acme/hello", strings.Repeat("a", 40), scm.CommitStatus{State: "success"})
	wantPermanent(t, err)
	if n := f.srv.CallCount(githubserver.RouteCreateStatus) - before; n != 1 || !strings.Contains(err.Error(), "No commit found") {
		t.Errorf("unknown SHA: %d calls, err %v", n, err)
	}
}

func TestDeployments(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	// A pending build status must not block the deployment.
	if err := f.gh.SetStatus(ctx, "acme/hello", f.sha, scm.CommitStatus{State: "pending"}); err != nil {
		t.Fatal(err)
	}
	id, err := f.gh.CreateDeployment(ctx, "acme/hello", f.sha, "staging", "deploy #7 by U01")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := f.srv.Deployment(id)
	if !ok {
		t.Fatalf("deployment %d not recorded", id)
	}
	if d.Ref != f.sha || d.SHA != f.sha || d.Environment != "staging" || d.Description != "deploy #7 by U01" || d.Task != "deploy" ||
		d.AutoMerge || d.RequiredContexts == nil || len(d.RequiredContexts) != 0 {
		t.Errorf("deployment = %+v", d)
	}
	var body map[string]any
	if err := f.srv.Calls(githubserver.RouteCreateDeployment)[0].Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body["auto_merge"] != false || body["required_contexts"] == nil {
		t.Errorf("request body = %v: auto_merge and required_contexts must be sent", body)
	}

	for _, st := range []struct{ state, url, desc string }{
		{"in_progress", "https://gantry.example/jobs/7", "deploying"},
		{"success", "https://gantry.example/jobs/7", "deployed in 2m"},
	} {
		if err := f.gh.SetDeploymentStatus(ctx, "acme/hello", id, st.state, st.url, st.desc); err != nil {
			t.Fatal(err)
		}
	}
	d, _ = f.srv.Deployment(id)
	if len(d.Statuses) != 2 || d.Statuses[0].State != "in_progress" || d.Statuses[1].State != "success" ||
		d.Statuses[1].LogURL != "https://gantry.example/jobs/7" || d.Statuses[1].Description != "deployed in 2m" {
		t.Errorf("statuses = %+v", d.Statuses)
	}

	if err := f.gh.SetDeploymentStatus(ctx, "acme/hello", id, "done", "", ""); err == nil {
		t.Error("state done accepted")
	}
	err = f.gh.SetDeploymentStatus(ctx, "acme/hello", 999, "success", "", "")
	wantPermanent(t, err)
	if _, err := f.gh.CreateDeployment(ctx, "acme/hello", f.sha, "", ""); err == nil {
		t.Error("deployment without an environment accepted")
	}
	if _, err := f.gh.CreateDeployment(ctx, "acme/hello", "main", "staging", ""); err == nil {
		t.Error("deployment of a branch name accepted: gantry deploys the SHA it built")
	}
}

func TestRetriesServerErrors(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	f.srv.FailNext(githubserver.RouteGetCommit, 2, http.StatusBadGateway)
	f.srv.FailNext(githubserver.RouteGetRepo, 1, http.StatusInternalServerError)
	f.srv.FailNext(githubserver.RouteGetRepo, 1, http.StatusTooManyRequests)
	sha, _, _, err := f.gh.Resolve(ctx, "acme/hello", "")
	if err != nil || sha != f.sha {
		t.Fatalf("Resolve = %q, %v", sha, err)
	}
	if n := f.srv.CallCount(githubserver.RouteGetCommit); n != 3 {
		t.Errorf("commit calls = %d, want 3", n)
	}
	if n := f.srv.CallCount(githubserver.RouteGetRepo); n != 3 {
		t.Errorf("repo calls = %d, want 3", n)
	}

	// Dropped connections are retried too; a POST is not retried by Go's
	// transport, so each drop is one call.
	f.srv.DropNext(githubserver.RouteCreateStatus, 2)
	if err := f.gh.SetStatus(ctx, "acme/hello", f.sha, scm.CommitStatus{State: "success"}); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.CallCount(githubserver.RouteCreateStatus); n != 3 || len(f.srv.Statuses("acme/hello", f.sha)) != 1 {
		t.Errorf("status calls = %d, want 3", n)
	}

	// At most MaxRetries retries.
	f.srv.FailNext(githubserver.RouteCreateDeploymentStatus, 10, http.StatusServiceUnavailable)
	err = f.gh.SetDeploymentStatus(ctx, "acme/hello", 1, "success", "", "")
	if err == nil || !strings.Contains(err.Error(), "gave up after 5 attempts") || errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("err = %v, want a transient error after 5 attempts", err)
	}
	if n := f.srv.CallCount(githubserver.RouteCreateDeploymentStatus); n != 5 {
		t.Errorf("calls = %d, want 5 (1 + MaxRetries 4)", n)
	}
	if !contains(f.logs.String(), "GitHub call failed; retrying", "503") {
		t.Errorf("retries not logged:\n%s", f.logs)
	}
}

func TestMaxRetriesConfig(t *testing.T) {
	f := setup(t, scm.GitHubConfig{MaxRetries: -1})
	f.srv.FailNext(githubserver.RouteGetRepo, 1, http.StatusBadGateway)
	if _, _, _, err := f.gh.Resolve(ctx, "acme/hello", ""); err == nil {
		t.Error("no retries configured, but the call succeeded")
	}
	g := setup(t, scm.GitHubConfig{MaxRetries: 1})
	g.srv.FailNext(githubserver.RouteGetRepo, 2, http.StatusBadGateway)
	if _, _, _, err := g.gh.Resolve(ctx, "acme/hello", ""); err == nil || g.srv.CallCount(githubserver.RouteGetRepo) != 2 {
		t.Errorf("MaxRetries 1: %v after %d calls", err, g.srv.CallCount(githubserver.RouteGetRepo))
	}
}

func TestSecondaryRateLimitHonoursRetryAfter(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	f.srv.SecondaryRateLimit(githubserver.RouteCreateStatus, 1, time.Second)
	start := time.Now()
	if err := f.gh.SetStatus(ctx, "acme/hello", f.sha, scm.CommitStatus{State: "success"}); err != nil {
		t.Fatal(err)
	}
	calls := f.srv.Calls(githubserver.RouteCreateStatus)
	if len(calls) != 2 || calls[0].Fault != "secondary" || calls[1].Status != http.StatusCreated {
		t.Fatalf("calls = %+v", calls)
	}
	if gap := calls[1].Time.Sub(calls[0].Time); gap < 950*time.Millisecond {
		t.Errorf("retried %v after a secondary rate limit with Retry-After: 1", gap)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}

	// Without Retry-After: exponential backoff from RetryBase.
	f.srv.SecondaryRateLimit(githubserver.RouteGetRepo, 2, 0)
	if _, _, _, err := f.gh.Resolve(ctx, "acme/hello", ""); err != nil {
		t.Fatal(err)
	}
	if n := f.srv.CallCount(githubserver.RouteGetRepo); n != 3 {
		t.Errorf("repo calls = %d, want 3", n)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	// Reset an hour away: fail at once, saying so.
	f := setup(t, scm.GitHubConfig{})
	reset := time.Now().Add(time.Hour)
	f.srv.PrimaryRateLimit(githubserver.RouteGetRepo, 1, reset)
	start := time.Now()
	_, _, _, err := f.gh.Resolve(ctx, "acme/hello", "")
	if err == nil || !contains(err.Error(), "rate limit of 5000 calls an hour is used up until", "not waiting that long") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(start); d > time.Second || f.srv.CallCount(githubserver.AnyRoute) != 1 {
		t.Errorf("took %v and %d calls", d, f.srv.CallCount(githubserver.AnyRoute))
	}

	// Reset within a minute: wait for it, then go on.
	g := setup(t, scm.GitHubConfig{})
	reset = time.Now().Add(1500 * time.Millisecond).Truncate(time.Second)
	g.srv.PrimaryRateLimit(githubserver.RouteGetRepo, 1, reset)
	if _, _, _, err := g.gh.Resolve(ctx, "acme/hello", ""); err != nil {
		t.Fatal(err)
	}
	calls := g.srv.Calls(githubserver.RouteGetRepo)
	if len(calls) != 2 || calls[1].Time.Before(reset) {
		t.Errorf("calls = %+v; the retry must come after the reset at %v", calls, reset)
	}
}

func TestBadToken(t *testing.T) {
	f := setup(t, scm.GitHubConfig{Token: "ghp_notTheRightToken"})
	_, _, _, err := f.gh.Resolve(ctx, "acme/hello", "")
	if got := userMessage(t, err); got != "GitHub rejected gantry's token (401 Bad credentials): check GITHUB_TOKEN" {
		t.Errorf("message = %q", got)
	}
	wantPermanent(t, err)
	if n := f.srv.CallCount(githubserver.AnyRoute); n != 1 {
		t.Errorf("calls = %d, want 1: a bad token is not retried", n)
	}
	if strings.Contains(err.Error(), "ghp_notTheRightToken") {
		t.Errorf("the error shows the token: %v", err)
	}
}

func TestContextEndsRetries(t *testing.T) {
	f := setup(t, scm.GitHubConfig{RetryBase: time.Second, MaxRetries: 10})
	f.srv.FailNext(githubserver.AnyRoute, 100, http.StatusBadGateway)
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, _, err := f.gh.Resolve(c, "acme/hello", "")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's error", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("returned %v after the call began", d)
	}
}

func TestNewGitHubConfig(t *testing.T) {
	if _, err := scm.NewGitHub(scm.GitHubConfig{}); err == nil || !strings.Contains(err.Error(), "token is empty") {
		t.Errorf("no token: %v", err)
	}
	if _, err := scm.NewGitHub(scm.GitHubConfig{Token: "ghp_a b"}); err == nil || !strings.Contains(err.Error(), "spaces") {
		t.Errorf("token with a space: %v", err)
	}
	for _, u := range []string{"ftp://x/", "not a url", "/api/v3"} {
		if _, err := scm.NewGitHub(scm.GitHubConfig{Token: "x", APIURL: u}); err == nil || !strings.Contains(err.Error(), "GitHub API URL") {
			t.Errorf("APIURL %q: %v", u, err)
		}
	}
	// An Enterprise-style base URL, with /api/v3 and no trailing slash.
	srv := githubserver.New(t)
	srv.AddRepo("acme/hello", "trunk")
	sha := srv.AddCommit("acme/hello", "", map[string]string{".gantry.yml": gantryYML})
	// A token read from a file keeps its newline; it is trimmed.
	gh, err := scm.NewGitHub(scm.GitHubConfig{Token: githubserver.Token + "\n", APIURL: srv.URL() + "/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	got, _, def, err := gh.Resolve(ctx, "acme/hello", "")
	if err != nil || got != sha || def != "trunk" {
		t.Errorf("Resolve through /api/v3 = %q, %q, %v", got, def, err)
	}
}

// TestResolverWithGitHub runs source.go's Resolver on a GitHub-configured
// repository through the client and the fake server.
func TestResolverWithGitHub(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	feature := f.srv.AddCommit("acme/hello", "feature", map[string]string{".gantry.yml": strings.Replace(gantryYML, "golang:1.26", "golang:1.27", 1)})
	cfg := &spec.Server{Repos: map[string]spec.Repo{
		"hello": {GitHub: "acme/hello", Path: "examples/hello", DefaultBranch: "main"},
		"bare":  {GitHub: "acme/bare", DefaultBranch: "main"},
	}}
	r := scm.NewResolver(cfg, f.gh)

	src, err := r.Resolve(ctx, "hello", "", false)
	if err != nil {
		t.Fatal(err)
	}
	if src.Kind != jobs.SourceGitHub || src.SHA != f.sha || src.Ref != "main" || src.GitHub != "acme/hello" || src.Repo != "hello" ||
		src.CloneURL != f.srv.CloneURL("acme/hello") || src.SpecName != "hello/.gantry.yml" || string(src.Spec) != gantryYML {
		t.Errorf("source = %+v", src)
	}
	file, err := src.Parse()
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if file.Image != "golang:1.26" {
		t.Errorf("image = %q", file.Image)
	}

	src, err = r.Resolve(ctx, "hello", "feature", false)
	if err != nil || src.SHA != feature || src.Ref != "feature" || !strings.Contains(string(src.Spec), "golang:1.27") {
		t.Errorf("feature: %+v, %v", src, err)
	}

	_, err = r.Resolve(ctx, "hello", "nope", false)
	if got := userMessage(t, err); got != `acme/hello has no branch, tag or commit called "nope"` {
		t.Errorf("unknown ref: %q", got)
	}

	f.srv.AddRepo("acme/bare", "main")
	bare := f.srv.AddCommit("acme/bare", "main", map[string]string{"README": "no spec here"})
	_, err = r.Resolve(ctx, "bare", "", false)
	if got, want := userMessage(t, err), "acme/bare has no .gantry.yml at "+bare[:7]; got != want {
		t.Errorf("missing .gantry.yml: %q, want %q", got, want)
	}
}
