package scm_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/scm"
)

func TestCommitAuthorHasTheLinkedLogin(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	a, err := f.gh.CommitAuthor(context.Background(), "acme/hello", f.sha)
	if err != nil || a.Login != "" || a.Email != "author@example.com" {
		t.Fatalf("CommitAuthor = %+v, %v; want no login and the email", a, err)
	}
	f.srv.AddUser("octocat", "Author@example.com")
	a, err = f.gh.CommitAuthor(context.Background(), "acme/hello", f.sha)
	if err != nil || a.Login != "octocat" {
		t.Fatalf("CommitAuthor = %+v, %v; want octocat", a, err)
	}
}

func TestChecksCombineStatusesAndCheckRuns(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	f.srv.AddStatus("acme/hello", f.sha, "ci/build", "pending")
	f.srv.AddStatus("acme/hello", f.sha, "ci/build", "success")
	f.srv.AddStatus("acme/hello", f.sha, "deploy-ok", "error")
	f.srv.AddCheckRun("acme/hello", f.sha, "lint", "completed", "neutral")
	f.srv.AddCheckRun("acme/hello", f.sha, "e2e", "completed", "timed_out")
	f.srv.AddCheckRun("acme/hello", f.sha, "ci/build", "completed", "failure") // same name as a green status: red
	got, err := f.gh.Checks(context.Background(), "acme/hello", f.sha)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]scm.Check{
		"ci/build":  {Context: "ci/build", State: "failure"},
		"deploy-ok": {Context: "deploy-ok", State: "error"},
		"lint":      {Context: "lint", State: "neutral", Green: true},
		"e2e":       {Context: "e2e", State: "timed_out"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Checks (-want +got):\n%s", d)
	}
	f.srv.ProtectBranch("acme/hello", "main", "ci/build", "lint")
	req, err := f.gh.RequiredChecks(context.Background(), "acme/hello", "main")
	if err != nil || !cmp.Equal(req, []string{"ci/build", "lint"}) {
		t.Errorf("RequiredChecks = %v, %v", req, err)
	}
}
