package commands_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot/slack"
	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// gitRepo makes a git repository whose main branch has mainSpec as its
// .gantry.yml, and returns its path.
func gitRepo(t *testing.T, mainSpec string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "init", "-q", "-b", "main")
	commitSpec(t, dir, mainSpec)
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func commitSpec(t *testing.T, dir, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	git(t, dir, "add", ".gantry.yml")
	git(t, dir, "commit", "-q", "--allow-empty", "-m", "spec")
}

const policySpec = `
pipelines:
  branch: {steps: [echo build]}
deploy:
  staging: {steps: [echo staging]}
  production: {branch: production, approval: true, steps: [echo production]}
`

// A branch that writes approval: false into its own .gantry.yml.
const hostileSpec = `
pipelines:
  branch: {steps: [echo build]}
deploy:
  staging: {steps: [echo staging]}
  production: {branch: feature, approval: false, steps: [echo pwned]}
`

type trustFixture struct {
	svc   *commands.Service
	store *jobs.Store
	dir   string
}

func newTrustFixture(t *testing.T, envs string, channels commands.Channels) *trustFixture {
	t.Helper()
	dir := gitRepo(t, policySpec)
	git(t, dir, "branch", "production")
	commitSpec(t, dir, policySpec+"# main moved on\n") // main's head is not on production
	git(t, dir, "checkout", "-q", "-b", "feature")
	commitSpec(t, dir, hostileSpec)
	git(t, dir, "checkout", "-q", "main")
	cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf(`
repos:
  app: {path: %s, channel: C0APPS, default_branch: main}
environments:
%s
admins: [U09]
`, dir, envs)))
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	store := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
	lg := jobs.NewLog(store, jobs.LogConfig{}, nil)
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: lg, Sources: scm.NewResolver(cfg, nil), Channels: channels})
	return &trustFixture{svc: svc, store: store, dir: dir}
}

func (f *trustFixture) say(user, channel, text string) commands.Reply {
	return f.svc.Handle(context.Background(), &commands.Request{User: user, Channel: channel, Text: text})
}

func (f *trustFixture) state(t *testing.T, id int64) *jobs.Job {
	t.Helper()
	j, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

const openProduction = `  production: {deployers: ["*"], approvers: [U02, U03]}`

func TestBranchCannotRemoveApprovalOfItsOwnDeploy(t *testing.T) {
	f := newTrustFixture(t, openProduction, nil)
	rep := f.say("U01", "C0APPS", "deploy app@feature production")
	if rep.Job != 0 || !strings.Contains(rep.Text.Slack(), "only commits on production") {
		t.Fatalf("a deploy of a branch that is not production was not refused: %q", rep.Text.Slack())
	}
	if !strings.Contains(rep.Text.Slack(), ".gantry.yml on main") {
		t.Errorf("the refusal does not say where the rule came from: %q", rep.Text.Slack())
	}
	// The production branch itself turns approval off: the policy on the
	// default branch still asks for it.
	git(t, f.dir, "checkout", "-q", "production")
	commitSpec(t, f.dir, strings.Replace(policySpec, "approval: true", "approval: false", 1))
	git(t, f.dir, "checkout", "-q", "main")
	rep = f.say("U01", "C0APPS", "deploy app@production production")
	if rep.Job == 0 {
		t.Fatalf("deploy refused: %q", rep.Text.Slack())
	}
	if j := f.state(t, rep.Job); j.State != jobs.AwaitingApproval {
		t.Fatalf("deploy whose ref turned approval off is %s, want awaiting_approval (%s)", j.State, j.Policy.Slack())
	}
	if !strings.Contains(rep.Text.Slack(), "approval required by .gantry.yml on main") {
		t.Errorf("the reply does not say which policy applied: %q", rep.Text.Slack())
	}
}

func TestDeployFromNonAllowedBranchIsRefused(t *testing.T) {
	f := newTrustFixture(t, `  production: {deployers: ["*"], approvers: [U02], branch: production}
  staging: {deployers: ["*"], branch: main}`, nil)
	for _, ref := range []string{"feature", "main"} {
		rep := f.say("U01", "C0APPS", "deploy app@"+ref+" production")
		if rep.Job != 0 || !strings.Contains(rep.Text.Slack(), "is not on it") || !strings.Contains(rep.Text.Slack(), "the server config") {
			t.Errorf("deploy of %s to production: %q, want a refusal naming the server config", ref, rep.Text.Slack())
		}
	}
	rep := f.say("U01", "C0APPS", "deploy app@feature staging")
	if rep.Job != 0 {
		t.Errorf("feature is not on main, but its deploy to staging was queued: %q", rep.Text.Slack())
	}
	// The commit of production is on main's history too: allowed.
	if rep := f.say("U01", "C0APPS", "deploy staging"); rep.Job == 0 {
		t.Errorf("deploy of main to staging refused: %q", rep.Text.Slack())
	}
}

func TestOtherRefsAllowedByServerNeedApproval(t *testing.T) {
	f := newTrustFixture(t, `  production: {deployers: ["*"], approvers: [U02], branch: production, allow_other_refs: true}`, nil)
	rep := f.say("U01", "C0APPS", "deploy app@feature production")
	if rep.Job == 0 {
		t.Fatalf("refused: %q", rep.Text.Slack())
	}
	if j := f.state(t, rep.Job); j.State != jobs.AwaitingApproval || !strings.Contains(j.Policy.Slack(), "not on production") {
		t.Errorf("deploy of another ref: %s, policy %q; want awaiting approval because it is not on production", j.State, j.Policy.Slack())
	}
}

func TestRetryChainCannotApproveItself(t *testing.T) {
	f := newTrustFixture(t, `  production: {deployers: [U01, U04], approvers: [U01, U02, U03]}`, nil)
	rep := f.say("U01", "C0APPS", "deploy app@production production")
	first := rep.Job
	if first == 0 {
		t.Fatalf("refused: %q", rep.Text.Slack())
	}
	expectReply(t, f.say("U02", "C0APPS", fmt.Sprintf("reject #%d not on a Friday", first)), "You rejected")
	// A third person retries: the original requester must still not approve.
	rep = f.say("U04", "C0APPS", fmt.Sprintf("retry #%d", first))
	second := rep.Job
	if second == 0 {
		t.Fatalf("retry refused: %q", rep.Text.Slack())
	}
	if !strings.Contains(rep.Text.Slack(), "needs approval again") || !strings.Contains(rep.Text.Slack(), "not on a Friday") {
		t.Errorf("the retry does not show the rejection: %q", rep.Text.Slack())
	}
	j := f.state(t, second)
	if j.State != jobs.AwaitingApproval || !strings.Contains(j.Rejection.Slack(), "not on a Friday") {
		t.Fatalf("retry of a rejected deploy: %s, rejection %q", j.State, j.Rejection.Slack())
	}
	expectReply(t, f.say("U01", "C0APPS", fmt.Sprintf("approve #%d", second)), "another approver must approve it")
	if j := f.state(t, second); j.State != jobs.AwaitingApproval {
		t.Fatalf("the original requester approved their own change through a retry: %s", j.State)
	}
	// The requester retries their own rejected deploy: still not theirs to approve.
	expectReply(t, f.say("U03", "C0APPS", fmt.Sprintf("reject #%d", second)), "You rejected")
	rep = f.say("U01", "C0APPS", fmt.Sprintf("retry #%d", second))
	expectReply(t, f.say("U01", "C0APPS", fmt.Sprintf("approve #%d", rep.Job)), "another approver must approve it")
	expectReply(t, f.say("U02", "C0APPS", fmt.Sprintf("approve #%d", rep.Job)), "You approved")
}

func TestBuildersAndPerPersonCap(t *testing.T) {
	dir := gitRepo(t, policySpec)
	cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf(`
repos:
  app: {path: %s, channel: C0APPS, builders: [U01]}
limits: {queued_per_person: 3}
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	store := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil)})
	say := func(user string) commands.Reply {
		return svc.Handle(context.Background(), &commands.Request{User: user, Channel: "C0APPS", Text: "build app"})
	}
	if rep := say("U02"); rep.Job != 0 || !strings.Contains(rep.Text.Slack(), "you may not build app") {
		t.Errorf("a person who is not a builder: %q", rep.Text.Slack())
	}
	for i := 0; i < 3; i++ {
		if rep := say("U01"); rep.Job == 0 {
			t.Fatalf("build %d refused: %q", i+1, rep.Text.Slack())
		}
	}
	rep := say("U01")
	if rep.Job != 0 || !strings.Contains(rep.Text.Slack(), "limits.queued_per_person") {
		t.Errorf("the fourth queued build: %q, want the cap's refusal", rep.Text.Slack())
	}
	active, err := store.Active(context.Background())
	if err != nil || len(active) != 3 {
		t.Errorf("active jobs = %d (%v), want 3", len(active), err)
	}
}

// TestStrangerCannotSeeJobOfPrivateChannel runs the channel look-up of the
// Slack front end against the Slack test server.
func TestStrangerCannotSeeJobOfPrivateChannel(t *testing.T) {
	ss := slackserver.New(t)
	ss.AddChannel(slackserver.Channel{ID: "G0SECRET", Name: "prod-ops", IsPrivate: true, Members: []string{"U01", "U07"}})
	api := goslack.New(slackserver.BotToken, goslack.OptionAPIURL(ss.APIURL()))
	sched := slack.NewScheduler(slack.SchedulerConfig{})
	t.Cleanup(sched.Close)
	people := slack.NewPeople(api, sched, 0)
	f := newTrustFixture(t, `  production: {deployers: [U01], approvers: [U02]}`, people)
	rep := f.say("U01", "G0SECRET", "deploy app@production production")
	if rep.Job == 0 {
		t.Fatalf("refused: %q", rep.Text.Slack())
	}
	id := rep.Job
	if !f.state(t, id).Private {
		t.Errorf("a job from a private channel is not marked private")
	}
	for _, text := range []string{"logs #%d", "status #%d", "retry #%d"} {
		rep := f.say("U66", "D0STRANGER", fmt.Sprintf(text, id))
		if !strings.Contains(rep.Text.Slack(), "you may not see") || strings.Contains(rep.Text.Slack(), "/jobs/") {
			t.Errorf("a stranger's %q: %q", text, rep.Text.Slack())
		}
	}
	if rep := f.say("U66", "D0STRANGER", "audit production"); strings.Contains(rep.Text.Slack(), fmt.Sprintf("#%d", id)) {
		t.Errorf("a stranger's audit shows the private deploy: %q", rep.Text.Slack())
	}
	if rep := f.say("U66", "D0STRANGER", "queue"); strings.Contains(rep.Text.Slack(), fmt.Sprintf("#%d", id)) || !strings.Contains(rep.Text.Slack(), "1 more") {
		t.Errorf("a stranger's queue: %q", rep.Text.Slack())
	}
	// A member of the channel, asking elsewhere, and an approver may.
	for _, who := range []string{"U07", "U02", "U09"} {
		if rep := f.say(who, "D0"+who, fmt.Sprintf("status #%d", id)); strings.Contains(rep.Text.Slack(), "may not") {
			t.Errorf("%s may see the job but was refused: %q", who, rep.Text.Slack())
		}
	}
}
