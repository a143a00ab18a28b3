package githubserver_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func TestGetRepo(t *testing.T) {
	srv, gh, _ := setup(t)
	r, _, err := gh.Repositories.Get(ctx, "acme", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetFullName() != "acme/hello" || r.GetDefaultBranch() != "main" || r.GetName() != "hello" || r.GetOwner().GetLogin() != "acme" {
		t.Errorf("repo = %s", r)
	}
	if r.GetCloneURL() != srv.URL()+"/acme/hello.git" || r.GetCloneURL() != srv.CloneURL("acme/hello") {
		t.Errorf("clone_url = %q", r.GetCloneURL())
	}
	// Names are case-insensitive, as on GitHub.
	if r, _, err := gh.Repositories.Get(ctx, "ACME", "Hello"); err != nil || r.GetFullName() != "acme/hello" {
		t.Errorf("Get(ACME/Hello) = %v, %v", r.GetFullName(), err)
	}
	_, resp, err := gh.Repositories.Get(ctx, "acme", "nope")
	if statusOf(err) != http.StatusNotFound || resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown repo: err = %v", err)
	}
}

func TestEnterpriseURLs(t *testing.T) {
	srv, _, sha := setup(t)
	gh, err := github.NewClient(nil).WithAuthToken(githubserver.Token).WithEnterpriseURLs(srv.URL(), srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "main", "")
	if err != nil || got != sha {
		t.Fatalf("GetCommitSHA1 through /api/v3 = %q, %v; want %s", got, err, sha)
	}
	calls := srv.Calls(githubserver.RouteGetCommit)
	if len(calls) != 1 || calls[0].Path != "/repos/acme/hello/commits/main" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestResolveRefs(t *testing.T) {
	srv, gh, first := setup(t)
	if !shaRE.MatchString(first) {
		t.Fatalf("AddCommit returned %q, not 40 hex digits", first)
	}
	second := srv.AddCommit("acme/hello", "main", map[string]string{"README": "hi\n"})
	feature := srv.AddCommit("acme/hello", "feature/login", map[string]string{"login.go": "package main\n"})
	srv.AddTag("acme/hello", "v1.0.0", first)
	if first == second || second == feature {
		t.Fatal("commits share a SHA")
	}
	if c, _ := srv.Commit("acme/hello", feature); c.Parent != second || c.Files["README"] != "hi\n" || c.Files["login.go"] == "" {
		t.Errorf("a new branch should start from the default branch's head: %+v", c)
	}

	for ref, want := range map[string]string{
		"main": second, "refs/heads/main": second, "feature/login": feature, "v1.0.0": first,
		"refs/tags/v1.0.0": first, first: first, first[:7]: first, feature[:10]: feature,
	} {
		got, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", ref, "")
		if err != nil || got != want {
			t.Errorf("GetCommitSHA1(%q) = %q, %v; want %s", ref, got, err, want)
		}
	}

	// The If-None-Match form answers 304 when nothing changed.
	_, resp, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "main", second)
	if resp == nil || resp.StatusCode != http.StatusNotModified || err == nil {
		t.Errorf("GetCommitSHA1 with the current SHA: resp %v, err %v; want 304", resp, err)
	}

	_, _, err = gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "nope", "")
	if statusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "No commit found for SHA: nope") {
		t.Errorf("unknown ref: %v", err)
	}

	// The JSON form.
	c, _, err := gh.Repositories.GetCommit(ctx, "acme", "hello", "feature/login", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.GetSHA() != feature || len(c.Parents) != 1 || c.Parents[0].GetSHA() != second || c.GetCommit().GetMessage() != "Update login.go" {
		t.Errorf("commit = %s", c)
	}
	if len(c.Files) != 1 || c.Files[0].GetFilename() != "login.go" || c.Files[0].GetStatus() != "added" {
		t.Errorf("files = %v", c.Files)
	}

	srv.DeleteBranch("acme/hello", "feature/login")
	if _, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "feature/login", ""); statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("deleted branch: %v", err)
	}
	if got, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", feature, ""); err != nil || got != feature {
		t.Errorf("a deleted branch's commit stays reachable by SHA: %q, %v", got, err)
	}
}

func TestEmptyRepository(t *testing.T) {
	srv, gh, _ := setup(t)
	srv.AddRepo("acme/empty", "")
	r, _, err := gh.Repositories.Get(ctx, "acme", "empty")
	if err != nil || r.GetDefaultBranch() != "main" {
		t.Fatalf("Get = %v, %v", r, err)
	}
	_, _, err = gh.Repositories.GetCommitSHA1(ctx, "acme", "empty", "main", "")
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "Git Repository is empty") {
		t.Errorf("empty repository: %v", err)
	}
}

func TestContents(t *testing.T) {
	srv, gh, first := setup(t)
	long := strings.Repeat("0123456789", 30) + "\nlast line ünïcode\n"
	second := srv.AddCommit("acme/hello", "main", map[string]string{
		".gantry.yml": long, "main.go": githubserver.Remove, "cmd/tool/main.go": "package main\n",
	})

	get := func(path, ref string) (*github.RepositoryContent, []*github.RepositoryContent, error) {
		t.Helper()
		f, d, _, err := gh.Repositories.GetContents(ctx, "acme", "hello", path, &github.RepositoryContentGetOptions{Ref: ref})
		return f, d, err
	}
	f, _, err := get(".gantry.yml", first)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.GetContent(); err != nil || !strings.HasPrefix(got, "image: golang:1.26\n") {
		t.Errorf("content at the first commit = %q, %v", got, err)
	}
	f, _, err = get(".gantry.yml", second)
	if err != nil {
		t.Fatal(err)
	}
	if f.GetEncoding() != "base64" || !strings.Contains(content(t, f), "ünïcode") {
		t.Errorf("content at the second commit = %+v", f)
	}
	if !strings.Contains(*f.Content, "\n") {
		t.Error("base64 content should come in lines, as GitHub sends it")
	}
	f, _, err = get(".gantry.yml", "") // default branch
	if err != nil || content(t, f) != long {
		t.Errorf("content on the default branch: %v", err)
	}

	if _, _, err := get("main.go", second); statusOf(err) != http.StatusNotFound {
		t.Errorf("removed file: %v", err)
	}
	if _, _, err := get("main.go", "nope"); statusOf(err) != http.StatusNotFound {
		t.Errorf("unknown ref: %v", err)
	}
	_, dir, err := get("", second)
	if err != nil || len(dir) != 2 || dir[0].GetName() != ".gantry.yml" || dir[1].GetType() != "dir" || dir[1].GetPath() != "cmd" {
		t.Errorf("root listing = %v, %v", dir, err)
	}
	_, dir, err = get("cmd/tool", second)
	if err != nil || len(dir) != 1 || dir[0].GetPath() != "cmd/tool/main.go" {
		t.Errorf("cmd/tool listing = %v, %v", dir, err)
	}

	big := srv.AddCommit("acme/hello", "main", map[string]string{"big.bin": strings.Repeat("x", githubserver.MaxContentSize+1)})
	f, _, err = get("big.bin", big)
	if err != nil || f.GetEncoding() != "none" || f.GetSize() != githubserver.MaxContentSize+1 {
		t.Errorf("large file = %+v, %v", f, err)
	}
}

func TestAuthorization(t *testing.T) {
	srv, _, _ := setup(t)
	for name, tc := range map[string]struct {
		gh   *github.Client
		want string
	}{
		"empty token": {client(t, srv, ""), "Bad credentials"},
		"wrong token": {client(t, srv, "ghp_wrong"), "Bad credentials"},
	} {
		_, _, err := tc.gh.Repositories.Get(ctx, "acme", "hello")
		if statusOf(err) != http.StatusUnauthorized || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want 401 %s", name, err, tc.want)
		}
	}
	// No Authorization header at all.
	resp, err := http.Get(srv.URL() + "/repos/acme/hello")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "Requires authentication") {
		t.Errorf("no header: %d %s", resp.StatusCode, body)
	}
	// The older "token" scheme works too.
	req, _ := http.NewRequest("GET", srv.URL()+"/repos/acme/hello", nil)
	req.Header.Set("Authorization", "token "+githubserver.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-RateLimit-Remaining") == "" {
		t.Errorf("token scheme: %d %v", resp.StatusCode, resp.Header)
	}

	other := githubserver.New(t, githubserver.WithToken("ghs_installation"))
	other.AddRepo("acme/hello", "main")
	if _, _, err := client(t, other, "ghs_installation").Repositories.Get(ctx, "acme", "hello"); err != nil {
		t.Errorf("WithToken: %v", err)
	}
	if got := srv.CallCount(githubserver.RouteGetRepo); got != 4 {
		t.Errorf("CallCount(RouteGetRepo) = %d, want 4 (refused calls are recorded too)", got)
	}
}

func TestUnknownEndpoint(t *testing.T) {
	srv, gh, _ := setup(t)
	_, _, err := gh.Issues.Get(ctx, "acme", "hello", 1)
	if statusOf(err) != http.StatusNotFound {
		t.Errorf("unimplemented endpoint: %v", err)
	}
	calls := srv.Calls()
	if len(calls) != 1 || calls[0].Route != "" || calls[0].Path != "/repos/acme/hello/issues/1" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestMisuseIsReported(t *testing.T) {
	ftb := &fakeTB{TB: t}
	srv := githubserver.New(ftb)
	if sha := srv.AddCommit("acme/none", "main", nil); sha != "" {
		t.Errorf("AddCommit on an unknown repo = %q", sha)
	}
	srv.AddRepo("not-a-repo", "")
	srv.AddRepo("acme/x", "")
	srv.AddRepo("acme/x", "")
	srv.FailNext(githubserver.RouteGetRepo, 0, 500)
	if len(ftb.errors) != 4 {
		t.Errorf("errors = %q, want 4", ftb.errors)
	}
}

func content(t *testing.T, f *github.RepositoryContent) string {
	t.Helper()
	s, err := f.GetContent()
	if err != nil {
		t.Fatalf("GetContent: %v", err)
	}
	return s
}
