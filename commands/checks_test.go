package commands_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/pool"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// newChecksFixture is a deploy fixture whose app is acme/app on a fake
// GitHub, backed by a git repository, with environments that require
// checks. It returns the fixture, the fake and the head of main.
func newChecksFixture(t *testing.T) (*deployFixture, *githubserver.Server, string) {
	t.Helper()
	dir := t.TempDir()
	spec0 := "deploy:\n  production:\n    steps: [echo \"deploying $(cat version.txt)\"]\n  staging:\n    steps: [echo staging]\n  canary:\n    steps: [echo canary]\n"
	for name, content := range map[string]string{".gantry.yml": spec0, "version.txt": "v1"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"-c", "user.name=Octo Cat", "-c", "user.email=octo@example.com", "commit", "-q", "-m", "v1"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	gh := githubserver.New(t)
	gh.AddGitRepo("acme/app", dir)
	cfg, err := spec.ParseServer("gantry.yml", []byte(`
repos:
  app: {github: acme/app, channel: C0APPS}
  local: {path: `+dir+`}
environments:
  production: {deployers: ["*"], required_checks: [ci/build, lint]}
  staging: {deployers: ["*"], approvers: [U03], required_checks: [ci/build, lint], allow_check_override: true}
  canary: {deployers: ["*"], branch: main, required_checks: protected}
`))
	if err != nil {
		t.Fatal(err)
	}
	client, err := scm.NewGitHub(scm.GitHubConfig{Token: githubserver.Token, APIURL: gh.URL(), RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	c := &clock{t: time.Now()}
	store := jobs.NewStore(srv.RDB(), jobs.StoreConfig{Now: c.Now})
	lg := jobs.NewLog(store, jobs.LogConfig{}, nil)
	pools := pool.New(rdb.New(srv.Client()), cfg.Pools, pool.Config{})
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: lg, Sources: scm.NewResolver(cfg, client), Pools: pools})
	f := &deployFixture{svc: svc, store: store, log: lg, cfg: cfg, clock: c, rdb: srv, pools: pools}
	return f, gh, gh.Head("acme/app", "main")
}

func TestDeployOfASHAWithARedRequiredCheckIsRefusedAndRunsOnceGreen(t *testing.T) {
	f, gh, sha := newChecksFixture(t)
	f.worker(t)
	gh.AddStatus("acme/app", sha, "ci/build", "failure")
	gh.AddCheckRun("acme/app", sha, "lint", "completed", "success")

	r := f.say("U01", "deploy app production")
	expectReply(t, r, "refused: production requires green checks")
	expectReply(t, r, "not green: ci/build (failure)")
	if strings.Contains(r.Text.Slack(), "lint") {
		t.Errorf("reply %q names lint, which is green", r.Text.Slack())
	}
	if active, _ := f.store.Active(t.Context()); len(active) != 0 {
		t.Fatalf("%d jobs queued after a refusal", len(active))
	}

	gh.AddStatus("acme/app", sha, "ci/build", "success") // the latest status counts
	r = f.say("U01", "deploy app production")
	expectReply(t, r, "Queued #1: deploy app")
	expectReply(t, r, "required checks green: ci/build, lint")
	waitJob(t, f, 1, jobs.Succeeded)
	if log := logOf(t, f, 1); !strings.Contains(log, "deploying v1") {
		t.Errorf("log of #1 does not show the deploy:\n%s", log)
	}
}

func TestMissingAndRedChecksAreNamed(t *testing.T) {
	f, gh, sha := newChecksFixture(t)
	gh.AddCheckRun("acme/app", sha, "lint", "completed", "failure")
	gh.AddCheckRun("acme/app", sha, "lint", "completed", "neutral") // a re-run: the latest counts
	gh.AddCheckRun("acme/app", sha, "ci/build", "in_progress", "")
	expectReply(t, f.say("U01", "deploy app production"), "not green: ci/build (in_progress)")

	gh.AddCheckRun("acme/app", sha, "ci/build", "completed", "skipped")
	expectReply(t, f.say("U01", "deploy app production"), "Queued #1")
}

func TestCheckOverrideAsksForApprovalNamingTheChecks(t *testing.T) {
	f, gh, sha := newChecksFixture(t)
	gh.AddStatus("acme/app", sha, "lint", "error")
	r := f.say("U01", "deploy app staging")
	expectReply(t, r, "awaiting approval")
	j := f.job(t, 1)
	if j.State != jobs.AwaitingApproval {
		t.Fatalf("#1 is %s, want awaiting approval", j.State)
	}
	req := commands.ApprovalRequest(j).Slack()
	for _, want := range []string{"lint (error)", "missing: ci/build", "approving it overrides them", "<@U03>"} {
		if !strings.Contains(req, want) {
			t.Errorf("approval request %q does not contain %q", req, want)
		}
	}
	// Its retry asks for the same override, naming the same checks.
	expectReply(t, f.say("U03", "reject #1 not now"), "rejected #1")
	r = f.say("U01", "retry #1")
	if r.Job == 0 {
		t.Fatalf("retry #1 queued nothing: %s", r.Text.String())
	}
	retry := f.job(t, r.Job)
	if retry.State != jobs.AwaitingApproval || !strings.Contains(commands.ApprovalRequest(retry).Slack(), "approving it overrides them") {
		t.Errorf("the retry is %s with request %q; want it to await approval of the override", retry.State, commands.ApprovalRequest(retry).Slack())
	}
}

func TestRequiredChecksFromBranchProtection(t *testing.T) {
	f, gh, sha := newChecksFixture(t)
	expectReply(t, f.say("U01", "deploy app canary"), "main is not protected")
	gh.ProtectBranch("acme/app", "main", "security")
	expectReply(t, f.say("U01", "deploy app canary"), "missing: security")
	gh.AddStatus("acme/app", sha, "security", "success")
	expectReply(t, f.say("U01", "deploy app canary"), "Queued #1")
}

func TestRequiredChecksNeedAGitHubRepo(t *testing.T) {
	f, _, _ := newChecksFixture(t)
	expectReply(t, f.say("U01", "deploy local production"), "checks need a GitHub repo")
}
