package commands_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

const hookSpec = `pipelines:
  branch: {steps: [make]}
  pr: {steps: [make test]}
`

// hookFixture is a fake GitHub with acme/hello, a real Redis, and the
// webhook handler of a service whose config builds acme/hello as "hello".
type hookFixture struct {
	srv      *githubserver.Server
	store    *jobs.Store
	hooks    *commands.Webhooks
	reporter *scm.Reporter
	main     string // head of main
}

func newHookFixture(t *testing.T, ghCfg scm.GitHubConfig) *hookFixture {
	t.Helper()
	srv := githubserver.New(t)
	srv.AddRepo("acme/hello", "main")
	head := srv.AddCommit("acme/hello", "main", map[string]string{".gantry.yml": hookSpec})
	cfg, err := spec.ParseServer("gantry.yml", []byte(`
repos:
  hello: {github: acme/hello, channel: C0HELLO}
  other: {github: acme/other}
`))
	if err != nil {
		t.Fatal(err)
	}
	ghCfg.Token, ghCfg.APIURL = githubserver.Token, srv.URL()
	if ghCfg.RetryBase == 0 {
		ghCfg.RetryBase = time.Millisecond
	}
	gh, err := scm.NewGitHub(ghCfg)
	if err != nil {
		t.Fatal(err)
	}
	redisSrv := redistest.Start(t)
	store := jobs.NewStore(redisSrv.RDB(), jobs.StoreConfig{})
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, gh), Logger: slog.New(slog.DiscardHandler)})
	rep := scm.NewReporter(gh, store, rdb.New(redisSrv.Client()), scm.ReporterConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); rep.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &hookFixture{srv: srv, store: store, hooks: svc.Webhooks(rep), reporter: rep, main: head}
}

func (f *hookFixture) handle(t *testing.T, ev *scm.WebhookEvent) {
	t.Helper()
	if err := f.hooks.Handle(context.Background(), ev); err != nil {
		t.Fatalf("Handle(%+v): %v", ev, err)
	}
}

func (f *hookFixture) active(t *testing.T) []*jobs.Job {
	t.Helper()
	js, err := f.store.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func (f *hookFixture) job(t *testing.T, id int64) *jobs.Job {
	t.Helper()
	j, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func (f *hookFixture) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.reporter.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func push(branch, sha string) *scm.WebhookEvent {
	return &scm.WebhookEvent{Kind: "push", Delivery: "d-" + sha[:7], Repo: "acme/hello", Branch: branch, SHA: sha, Sender: "octocat"}
}

func pullRequest(action string, n int, branch, sha string) *scm.WebhookEvent {
	return &scm.WebhookEvent{Kind: "pull_request", Action: action, PR: n, Delivery: "d-" + action + sha[:7], Repo: "acme/hello", Branch: branch, SHA: sha, Sender: "octocat"}
}

func TestWebhookPushQueuesTheBranchPipeline(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	ev := push("main", f.main)
	ev.Repo = "ACME/Hello" // GitHub's names are not case-sensitive
	f.handle(t, ev)
	active := f.active(t)
	if len(active) != 1 {
		t.Fatalf("%d jobs queued, want 1", len(active))
	}
	want := &jobs.Job{
		ID: active[0].ID, Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.main, Message: "Update .gantry.yml", Source: jobs.SourceGitHub,
		CloneURL: f.srv.CloneURL("acme/hello"), GitHub: "acme/hello", Origin: "github", Channel: "C0HELLO",
		State: jobs.Queued, Attempt: 1,
	}
	if diff := cmp.Diff(want, active[0], cmpopts.IgnoreFields(jobs.Job{}, "Plan", "Created")); diff != "" {
		t.Errorf("job (-want +got):\n%s", diff)
	}
	if p := active[0].Plan; p.Name != "branch" || len(p.Steps) != 1 || p.Steps[0].Run != "make" {
		t.Errorf("plan = %+v, want the branch pipeline", p)
	}
}

func TestWebhooksThatQueueNothing(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	deleted := push("gone", f.main)
	deleted.Deleted = true
	unknown := push("main", f.main)
	unknown.Repo = "acme/elsewhere"
	tag := &scm.WebhookEvent{Kind: "push", Delivery: "d-tag", Repo: "acme/hello", Tag: "v1.0.0", SHA: f.main}
	for name, ev := range map[string]*scm.WebhookEvent{
		"deleted branch":       deleted,
		"unknown repo":         unknown,
		"tag, no tag pipeline": tag,
		"other ref":            {Kind: "", Delivery: "d-other", Repo: "acme/hello"},
		"ping":                 {Kind: "ping", Delivery: "d-ping", Repo: "acme/hello"},
		"pr labeled":           pullRequest("labeled", 3, "feature", f.main),
		"closed, no builds":    pullRequest("closed", 3, "feature", f.main),
	} {
		if err := f.hooks.Handle(context.Background(), ev); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A commit GitHub does not have is dropped, not retried.
	if err := f.hooks.Handle(context.Background(), push("main", strings.Repeat("ab", 20))); err != nil {
		t.Errorf("unknown commit: %v", err)
	}
	if a := f.active(t); len(a) != 0 {
		t.Errorf("%d jobs queued, want none", len(a))
	}
}

// TestWebhookTagPushRunsTheTagPipeline: a pushed tag runs the tag
// pipeline at the tag's commit, with the tag as its ref; a deleted tag
// runs nothing.
func TestWebhookTagPushRunsTheTagPipeline(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	sha := f.srv.AddCommit("acme/hello", "main", map[string]string{".gantry.yml": hookSpec + "  tag: {steps: [make release]}\n"})
	gone := &scm.WebhookEvent{Kind: "push", Delivery: "d-gone", Repo: "acme/hello", Tag: "v0.9", SHA: githubserver.ZeroSHA, Deleted: true}
	f.handle(t, gone)
	f.handle(t, &scm.WebhookEvent{Kind: "push", Delivery: "d-tag", Repo: "acme/hello", Tag: "v1.0.0", SHA: sha})
	active := f.active(t)
	if len(active) != 1 {
		t.Fatalf("%d jobs queued, want 1", len(active))
	}
	j := active[0]
	if j.Ref != "v1.0.0" || j.SHA != sha || j.Plan.Name != "tag" || j.Plan.Steps[0].Run != "make release" || j.What() != "run tag" {
		t.Errorf("job = ref %q sha %q plan %q (%s); want the tag pipeline at v1.0.0", j.Ref, j.SHA, j.Plan.Name, j.What())
	}
}

func TestWebhookWithoutAPRPipelineIsQuiet(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	sha := f.srv.AddCommit("acme/hello", "feature", map[string]string{".gantry.yml": "pipelines:\n  branch: {steps: [make]}\n"})
	f.handle(t, pullRequest("opened", 4, "feature", sha))
	f.flush(t)
	if a := f.active(t); len(a) != 0 {
		t.Errorf("%d jobs queued for a repo without a pr pipeline", len(a))
	}
	if st := f.srv.Statuses("acme/hello", sha); len(st) != 0 {
		t.Errorf("statuses %+v for a repo without a pr pipeline", st)
	}
}

func TestWebhookWithAnInvalidSpecSetsAnErrorStatus(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	sha := f.srv.AddCommit("acme/hello", "feature", map[string]string{".gantry.yml": "pipelines:\n  branch:\n    stpes: [make]\n  pr: {steps: 3}\n"})
	f.handle(t, push("feature", sha))
	f.handle(t, pullRequest("opened", 5, "feature", sha))
	f.flush(t)
	if a := f.active(t); len(a) != 0 {
		t.Errorf("%d jobs queued from an invalid .gantry.yml", len(a))
	}
	st := f.srv.Statuses("acme/hello", sha)
	if len(st) != 2 {
		t.Fatalf("statuses = %+v, want one for the push and one for the pull request", st)
	}
	for i, wantCtx := range []string{"gantry/build", "gantry/pr"} {
		if st[i].State != "error" || st[i].Context != wantCtx ||
			!strings.HasPrefix(st[i].Description, `not built: hello/.gantry.yml:2: pipeline "branch" has no steps`) ||
			!strings.HasSuffix(st[i].Description, "(and 2 more)") {
			t.Errorf("status %d = %+v", i, st[i])
		}
	}
}

func TestWebhookLongSpecErrorIsCutForGitHub(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	sha := f.srv.AddCommit("acme/hello", "feature", map[string]string{".gantry.yml": "pipelines:\n  " + strings.Repeat("x", 300) + ": [make]\n  branch: {steps: [make]}\n  bad: 3\n"})
	f.handle(t, push("feature", sha))
	f.flush(t)
	st := f.srv.Statuses("acme/hello", sha)
	if len(st) != 1 || st[0].State != "error" || len([]rune(st[0].Description)) > 140 || !strings.HasPrefix(st[0].Description, "not built: hello/.gantry.yml:") {
		t.Errorf("statuses = %+v", st)
	}
}

func TestWebhookPullRequestPushesSupersedeAndCloseCancels(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	ctx := context.Background()
	first := f.srv.AddCommit("acme/hello", "feature", map[string]string{"a": "1"})
	f.handle(t, pullRequest("opened", 7, "feature", first))
	a := f.active(t)
	if len(a) != 1 || a[0].PR != 7 || a[0].Plan.Name != "pr" || a[0].SHA != first || a[0].Ref != "feature" || a[0].Requester != "" {
		t.Fatalf("after opened: %+v", a)
	}
	old := a[0].ID

	// The same head again (GitHub delivering twice) starts nothing.
	again := pullRequest("synchronize", 7, "feature", first)
	again.Delivery = "another"
	f.handle(t, again)
	if n := len(f.active(t)); n != 1 {
		t.Fatalf("%d builds after a repeated head, want 1", n)
	}

	second := f.srv.AddCommit("acme/hello", "feature", map[string]string{"a": "2"})
	f.handle(t, pullRequest("synchronize", 7, "feature", second))
	a = f.active(t)
	if len(a) != 1 || a[0].SHA != second {
		t.Fatalf("after synchronize: active %+v", a)
	}
	newer := a[0]
	if j := f.job(t, old); j.State != jobs.Cancelled || j.Reason.Slack() != "cancelled by a newer push to PR #7 ("+newer.Name()+")" {
		t.Errorf("superseded build: %s (%q)", j.State, j.Reason.Slack())
	}

	// A build of another pull request is not touched; the running build of
	// PR #7 is stopped when the pull request closes.
	f.handle(t, pullRequest("opened", 8, "other", f.main))
	if _, err := f.store.Transition(ctx, newer.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Running}); err != nil {
		t.Fatal(err)
	}
	f.handle(t, pullRequest("closed", 7, "feature", second))
	by, err := f.store.CancelRequest(ctx, newer.ID)
	if err != nil || by == nil || by.Error() != "cancelled by GitHub: pull request #7 was closed" {
		t.Errorf("cancel of the running build = %v, %v", by, err)
	}
	a = f.active(t)
	if len(a) != 2 || a[1].PR != 8 || a[1].State != jobs.Queued {
		t.Errorf("active after close = %+v, want #%d stopping and PR #8's build queued", a, newer.ID)
	}

	// Reopened at once, while the closed one's build is still stopping:
	// built again.
	f.handle(t, pullRequest("reopened", 8, "other", f.main)) // same head, still queued: nothing
	f.handle(t, pullRequest("reopened", 7, "feature", second))
	a = f.active(t)
	if len(a) != 3 || a[2].PR != 7 || a[2].SHA != second || a[2].ID == newer.ID {
		t.Errorf("active after reopen = %+v", a)
	}
	if by, _ := f.store.CancelRequest(ctx, newer.ID); by == nil || !strings.Contains(by.Error(), "was closed") {
		t.Errorf("the closed pull request's build is now %v; it keeps its reason", by)
	}
}

func TestWebhookAsksForRedeliveryWhenGitHubIsDown(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{MaxRetries: -1})
	f.srv.FailNext(githubserver.AnyRoute, 1, 502)
	err := f.hooks.Handle(context.Background(), push("main", f.main))
	if err == nil {
		t.Fatal("Handle succeeded while GitHub answered 502")
	}
	if a := f.active(t); len(a) != 0 {
		t.Errorf("%d jobs queued", len(a))
	}
	f.handle(t, push("main", f.main))
	if a := f.active(t); len(a) != 1 {
		t.Errorf("%d jobs queued after GitHub came back, want 1", len(a))
	}
}

func TestWebhookPullRequestFromAForkIsNotBuiltAutomatically(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	sha := f.srv.AddCommit("acme/hello", "feature", map[string]string{"a": "1"})
	ev := pullRequest("opened", 9, "feature", sha)
	ev.HeadRepo, ev.Fork = "mallory/hello", true
	f.handle(t, ev)
	f.flush(t)
	if a := f.active(t); len(a) != 0 {
		t.Fatalf("a fork's pull request queued %d jobs", len(a))
	}
	st := f.srv.Statuses("acme/hello", sha)
	if len(st) != 1 || st[0].State != "error" || st[0].Context != "gantry/pr" ||
		st[0].Description != "not built: PRs from forks need a maintainer to run `build hello@"+sha[:7]+"` in chat" {
		t.Errorf("statuses = %+v", st)
	}
}

func TestWebhookActedOnTwiceBuildsOnce(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	// The inbox delivers at least once: a webhook taken over from a gantry
	// that stopped after it queued the build, but before it said so, comes
	// again.
	f.handle(t, push("main", f.main))
	f.handle(t, push("main", f.main))
	if a := f.active(t); len(a) != 1 {
		t.Fatalf("%d jobs queued for one push acted on twice, want 1", len(a))
	}
	// The same commit pushed to another branch is another build.
	f.handle(t, push("release", f.main))
	if a := f.active(t); len(a) != 2 {
		t.Errorf("%d jobs queued after a push of the same commit to another branch, want 2", len(a))
	}
}
