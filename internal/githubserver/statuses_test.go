package githubserver_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

func TestCommitStatuses(t *testing.T) {
	srv, gh, sha := setup(t)
	st, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, &github.RepoStatus{
		State: github.String("pending"), TargetURL: github.String("https://gantry.example/jobs/1"),
		Description: github.String("build #1 queued"), Context: github.String("gantry/build"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.GetID() == 0 || st.GetState() != "pending" || st.GetCreator().GetLogin() != githubserver.BotLogin {
		t.Errorf("answer = %s", st)
	}
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, &github.RepoStatus{State: github.String("success")}); err != nil {
		t.Fatal(err)
	}
	got := srv.Statuses("acme/hello", sha)
	if len(got) != 2 {
		t.Fatalf("statuses = %+v", got)
	}
	if g := got[0]; g.State != "pending" || g.Context != "gantry/build" || g.TargetURL != "https://gantry.example/jobs/1" ||
		g.Description != "build #1 queued" || g.SHA != sha || g.Repo != "acme/hello" {
		t.Errorf("first status = %+v", g)
	}
	if got[1].Context != "default" {
		t.Errorf("a status without context gets GitHub's %q, got %q", "default", got[1].Context)
	}
	if latest, ok := srv.LatestStatus("acme/hello", sha, "gantry/build"); !ok || latest.State != "pending" {
		t.Errorf("LatestStatus = %+v, %v", latest, ok)
	}

	for name, tc := range map[string]struct {
		ref  string
		st   github.RepoStatus
		want string
	}{
		"bad state":         {sha, github.RepoStatus{State: github.String("done")}, "state is not included in the list"},
		"no state":          {sha, github.RepoStatus{}, "state is not included in the list"},
		"long text":         {sha, github.RepoStatus{State: github.String("success"), Description: github.String(strings.Repeat("é", 141))}, "description is too long"},
		"unknown sha":       {strings.Repeat("a", 40), github.RepoStatus{State: github.String("success")}, "No commit found for SHA"},
		"branch, not a sha": {"main", github.RepoStatus{State: github.String("success")}, "No commit found for SHA: main"},
	} {
		_, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", tc.ref, &tc.st)
		if statusOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error()+errorsOf(err), tc.want) {
			t.Errorf("%s: err = %v (%s), want 422 %s", name, err, errorsOf(err), tc.want)
		}
	}
	// 140 characters are fine.
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, &github.RepoStatus{
		State: github.String("success"), Description: github.String(strings.Repeat("é", 140)),
	}); err != nil {
		t.Errorf("140 characters: %v", err)
	}
	if n := len(srv.Statuses("acme/hello", sha)); n != 3 {
		t.Errorf("refused statuses were stored: %d", n)
	}
}

// errorsOf returns the messages of a 422's errors list.
func errorsOf(err error) string {
	e, ok := err.(*github.ErrorResponse)
	if !ok {
		return ""
	}
	var msgs []string
	for _, x := range e.Errors {
		msgs = append(msgs, x.Message)
	}
	return strings.Join(msgs, "; ")
}

func TestDeployments(t *testing.T) {
	srv, gh, sha := setup(t)
	// A pending status blocks a deployment that leaves required_contexts out.
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, &github.RepoStatus{
		State: github.String("pending"), Context: github.String("gantry/build"),
	}); err != nil {
		t.Fatal(err)
	}
	_, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "hello", &github.DeploymentRequest{
		Ref: github.String(sha), Environment: github.String("staging"),
	})
	if statusOf(err) != http.StatusConflict || !strings.Contains(err.Error(), "gantry/build") {
		t.Errorf("deploy with a pending status: %v, want 409", err)
	}

	d, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "hello", &github.DeploymentRequest{
		Ref: github.String(sha), Environment: github.String("staging"), Description: github.String("deploy #2"),
		AutoMerge: github.Bool(false), RequiredContexts: &[]string{}, Payload: map[string]any{"job": 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetID() == 0 || d.GetSHA() != sha || d.GetEnvironment() != "staging" || d.GetTask() != "deploy" || string(d.Payload) != `{"job":2}` {
		t.Errorf("answer = %+v", d)
	}
	rec, ok := srv.Deployment(d.GetID())
	if !ok {
		t.Fatal("deployment not recorded")
	}
	if rec.Repo != "acme/hello" || rec.Ref != sha || rec.SHA != sha || rec.Environment != "staging" || rec.AutoMerge ||
		rec.RequiredContexts == nil || len(rec.RequiredContexts) != 0 || rec.Description != "deploy #2" || rec.ProductionEnvironment {
		t.Errorf("recorded = %+v", rec)
	}
	var payload map[string]int
	if err := json.Unmarshal(rec.Payload, &payload); err != nil || payload["job"] != 2 {
		t.Errorf("payload = %s", rec.Payload)
	}

	for _, state := range []string{"in_progress", "success"} {
		ds, _, err := gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d.GetID(), &github.DeploymentStatusRequest{
			State: github.String(state), LogURL: github.String("https://gantry.example/jobs/2"), Description: github.String("deploy " + state),
		})
		if err != nil {
			t.Fatal(err)
		}
		if ds.GetState() != state || ds.GetLogURL() != "https://gantry.example/jobs/2" || ds.GetEnvironment() != "staging" {
			t.Errorf("answer = %+v", ds)
		}
	}
	rec, _ = srv.Deployment(d.GetID())
	if len(rec.Statuses) != 2 || rec.Statuses[0].State != "in_progress" || rec.Statuses[1].State != "success" ||
		rec.Statuses[1].LogURL != "https://gantry.example/jobs/2" || rec.Statuses[1].Description != "deploy success" {
		t.Errorf("statuses = %+v", rec.Statuses)
	}

	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d.GetID(), &github.DeploymentStatusRequest{State: github.String("done")})
	if statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("bad state: %v", err)
	}
	_, _, err = gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", 12345, &github.DeploymentStatusRequest{State: github.String("success")})
	if statusOf(err) != http.StatusNotFound {
		t.Errorf("unknown deployment: %v", err)
	}

	// A later successful deployment to staging makes the earlier one inactive.
	d2, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "hello", &github.DeploymentRequest{
		Ref: github.String("main"), Environment: github.String("staging"), RequiredContexts: &[]string{},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Repositories.CreateDeploymentStatus(ctx, "acme", "hello", d2.GetID(), &github.DeploymentStatusRequest{State: github.String("success")}); err != nil {
		t.Fatal(err)
	}
	rec, _ = srv.Deployment(d.GetID())
	if last := rec.Statuses[len(rec.Statuses)-1]; last.State != "inactive" || !last.Auto {
		t.Errorf("earlier deployment's statuses = %+v", rec.Statuses)
	}
	if all := srv.Deployments("acme/hello"); len(all) != 2 || all[1].ID != d2.GetID() || all[1].Ref != "main" || !all[1].AutoMerge || all[1].SHA != sha {
		t.Errorf("Deployments = %+v", all)
	}
}

func TestDeploymentAutoMerge(t *testing.T) {
	srv, gh, _ := setup(t)
	srv.AddCommit("acme/hello", "feature", map[string]string{"a": "1"})
	srv.AddCommit("acme/hello", "main", map[string]string{"b": "2"}) // feature is now behind main
	req := &github.DeploymentRequest{Ref: github.String("feature"), RequiredContexts: &[]string{}}
	_, resp, err := gh.Repositories.CreateDeployment(ctx, "acme", "hello", req)
	if _, ok := err.(*github.AcceptedError); !ok || resp.StatusCode != http.StatusAccepted {
		t.Errorf("auto-merge of a branch behind main: %v, want 202", err)
	}
	req.AutoMerge = github.Bool(false)
	if _, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "hello", req); err != nil {
		t.Errorf("auto_merge false: %v", err)
	}
	if _, _, err := gh.Repositories.CreateDeployment(ctx, "acme", "hello", &github.DeploymentRequest{Ref: github.String("nope")}); statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("unknown ref: %v", err)
	}
	if n := len(srv.Deployments("acme/hello")); n != 1 {
		t.Errorf("deployments = %d, want 1", n)
	}
}
