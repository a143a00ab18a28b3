package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/pool"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const repoSpec = `
pipelines:
  branch:
    steps: [echo "building with $GANTRY_RESOURCE_MYSQL", sleep 0.3]
resources: [mysql]
deploy:
  staging:
    steps: [echo "deploying to staging"]
  production:
    steps: [echo "deploying to production"]
`

type deployFixture struct {
	svc   *commands.Service
	store *jobs.Store
	log   *jobs.Log
	cfg   *spec.Server
	clock *clock
	rdb   *redistest.Server
	pools *pool.Pools
}

func newDeployFixture(t *testing.T) *deployFixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "app")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(repoSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgText := fmt.Sprintf(`
repos:
  app: {path: %s, channel: C0APPS}
pools:
  mysql: [mysql-1]
environments:
  staging: {deployers: ["*"]}
  production: {deployers: [U01, U02, U05], approvers: [U02, U03], approval: true, approval_ttl: 1h}
admins: [U09]
`, dir)
	cfg, err := spec.ParseServer("gantry.yml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	c := &clock{t: time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)}
	store := jobs.NewStore(srv.RDB(), jobs.StoreConfig{Now: c.Now})
	lg := jobs.NewLog(store, jobs.LogConfig{}, nil)
	pools := pool.New(rdb.New(srv.Client()), cfg.Pools, pool.Config{})
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: lg, Sources: scm.NewResolver(cfg, nil), Pools: pools})
	return &deployFixture{svc: svc, store: store, log: lg, cfg: cfg, clock: c, rdb: srv, pools: pools}
}

func (f *deployFixture) say(user, text string) commands.Reply {
	return f.svc.Handle(context.Background(), &commands.Request{User: user, Channel: "C0APPS", Text: text})
}

func (f *deployFixture) job(t *testing.T, id int64) *jobs.Job {
	t.Helper()
	j, err := f.store.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// worker runs jobs with the real local runner and gates.
func (f *deployFixture) worker(t *testing.T) {
	t.Helper()
	envs := map[string][]string{}
	for name := range f.cfg.Environments {
		envs[name] = []string{name}
	}
	gates := []jobs.Gate{
		&jobs.EnvGate{Slots: pool.New(rdb.New(f.rdb.Client()), envs, pool.Config{Namespace: "gantry-deploys"}), Known: func(string) bool { return true }, Poll: 50 * time.Millisecond},
		&jobs.ResourceGate{Pools: f.pools},
	}
	w := jobs.NewWorker(f.store, f.log, local.New(local.Config{}), gates, jobs.WorkerConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitJob(t *testing.T, f *deployFixture, id int64, want jobs.State) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		j := f.job(t, id)
		if j.State == want {
			return j
		}
		time.Sleep(20 * time.Millisecond)
	}
	j := f.job(t, id)
	t.Fatalf("job #%d is %s (%s), want %s", id, j.State, j.Reason.Slack(), want)
	return nil
}

func expectReply(t *testing.T, r commands.Reply, want string) {
	t.Helper()
	if !strings.Contains(r.Text.Slack(), want) {
		t.Errorf("reply %q does not contain %q", r.Text.Slack(), want)
	}
}

func TestApprovalByAnApproverRunsTheDeployOnce(t *testing.T) {
	f := newDeployFixture(t)
	expectReply(t, f.say("U02", "deploy production"), "#1: deploy app to production is awaiting approval")
	if j := f.job(t, 1); j.State != jobs.AwaitingApproval {
		t.Fatalf("state %s", j.State)
	}
	// The requester (an approver too), a non-approver: refused, nothing changes.
	expectReply(t, f.say("U02", "approve #1"), "you asked for #1, so another approver must approve it")
	expectReply(t, f.say("U05", "approve #1"), "you may not approve deploys to production; who may: <@U02>, <@U03>")
	if j := f.job(t, 1); j.State != jobs.AwaitingApproval {
		t.Fatalf("a refused approval changed the job: %s", j.State)
	}
	expectReply(t, f.say("U03", "approve #1"), "You approved #1")
	expectReply(t, f.say("U02", "approve #1"), "#1 is not awaiting approval: it is queued (approved by <@U03> at 2026-11-23 14:00 UTC)")

	f.worker(t)
	j := waitJob(t, f, 1, jobs.Succeeded)
	if j.Decision.Slack() != "approved by <@U03> at 2026-11-23 14:00 UTC" {
		t.Errorf("decision %q", j.Decision.Slack())
	}
	all, _ := f.log.All(context.Background(), 1)
	if strings.Count(string(all), "deploying to production\n") != 1 {
		t.Errorf("the deploy ran other than once:\n%s", all)
	}
	audit := f.say("U09", "audit production")
	expectReply(t, audit, "<@U03> approved #1 (production): app")
	expectReply(t, audit, "<@U02> requested deploy #1 (production): app")
}

func TestRejectEndsTheDeployCancelledWithTheReason(t *testing.T) {
	f := newDeployFixture(t)
	f.say("U01", "deploy production")
	expectReply(t, f.say("U03", "reject #1 not during the freeze"), "You rejected #1.")
	j := f.job(t, 1)
	if j.State != jobs.Cancelled || j.Reason.Slack() != "rejected by <@U03>: not during the freeze" {
		t.Fatalf("after reject: %s %q", j.State, j.Reason.Slack())
	}
	expectReply(t, f.say("U02", "approve #1"), "#1 is not awaiting approval: it is cancelled (rejected by <@U03>: not during the freeze at 2026-11-23 14:00 UTC)")
}

func TestUnansweredApprovalExpires(t *testing.T) {
	f := newDeployFixture(t)
	f.say("U01", "deploy production")
	f.clock.Add(61 * time.Minute)
	expectReply(t, f.say("U02", "approve #1"), "the approval request for #1 expired at 2026-11-23 15:00 UTC")
	j := f.job(t, 1)
	if j.State != jobs.Cancelled || !strings.Contains(j.Reason.Slack(), "expired after 1h") {
		t.Fatalf("after expiry: %s %q", j.State, j.Reason.Slack())
	}
	// The sweeper expires requests nobody touches.
	f.say("U01", "deploy production")
	f.clock.Add(2 * time.Hour)
	if err := f.svc.ExpireApprovals(context.Background()); err != nil {
		t.Fatal(err)
	}
	if j := f.job(t, 2); j.State != jobs.Cancelled {
		t.Fatalf("sweeper left #2 %s", j.State)
	}
	expectReply(t, f.say("U09", "audit"), "gantry expired the approval request of #2 (production)")
}

func TestLockedEnvironmentRefusesOthersAndLetsTheHolderThrough(t *testing.T) {
	f := newDeployFixture(t)
	expectReply(t, f.say("U01", "lock staging release freeze"), "<@U01> locked staging: release freeze")
	expectReply(t, f.say("U02", "lock staging"), "staging is already locked by <@U01>")
	expectReply(t, f.say("U02", "deploy staging"), "staging is locked by <@U01> since 2026-11-23 14:00 UTC: release freeze")
	if _, err := f.store.Get(context.Background(), 1); err == nil {
		t.Fatal("a refused deploy was queued")
	}
	expectReply(t, f.say("U01", "deploy staging"), "Queued #1: deploy app to staging")
	expectReply(t, f.say("U02", "unlock staging"), "staging is locked by <@U01>; only they may unlock it, or an admin with `unlock staging --force` (admins: <@U09>)")
	expectReply(t, f.say("U09", "status staging"), "Locked by <@U01> since 2026-11-23 14:00 UTC: release freeze (until 2026-11-23 22:00 UTC)")
	expectReply(t, f.say("U09", "unlock staging --force"), "<@U09> force-unlocked staging, which <@U01> held.")
}

func TestQueuedDeployWaitsWhileSomeoneElseHoldsTheLock(t *testing.T) {
	f := newDeployFixture(t)
	expectReply(t, f.say("U05", "deploy staging"), "Queued #1")
	f.say("U01", "lock staging smoke tests")
	f.worker(t)
	j := waitJob(t, f, 1, jobs.Waiting)
	if j.Reason.Slack() != "waiting: staging is locked by <@U01>: smoke tests" {
		t.Errorf("reason %q", j.Reason.Slack())
	}
	f.say("U01", "unlock staging")
	waitJob(t, f, 1, jobs.Succeeded)
}

func TestJobsLeaseResourcesInTurn(t *testing.T) {
	f := newDeployFixture(t)
	f.worker(t)
	expectReply(t, f.say("U05", "build"), "Queued #1")
	expectReply(t, f.say("U05", "build"), "Queued #2")
	// Whichever the worker took first holds mysql-1; the other waits.
	var waiting, holding *jobs.Job
	deadline := time.Now().Add(10 * time.Second)
	for waiting == nil && time.Now().Before(deadline) {
		for _, id := range []int64{1, 2} {
			if j := f.job(t, id); j.State == jobs.Waiting {
				waiting, holding = j, f.job(t, 3-id)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if waiting == nil {
		t.Fatal("neither job waited for mysql")
	}
	if waiting.Reason.Slack() != "waiting for mysql (1st in line)" {
		t.Errorf("waiting reason %q", waiting.Reason.Slack())
	}
	expectReply(t, f.say("U05", "pool mysql"), fmt.Sprintf("• mysql-1: held by #%d since ", holding.ID))
	expectReply(t, f.say("U05", "pool mysql"), fmt.Sprintf("waiting: #%d", waiting.ID))
	waitJob(t, f, 1, jobs.Succeeded)
	waitJob(t, f, 2, jobs.Succeeded)
	for _, id := range []int64{1, 2} {
		all, _ := f.log.All(context.Background(), id)
		if !strings.Contains(string(all), "building with mysql-1\n") {
			t.Errorf("job #%d did not see its resource:\n%s", id, all)
		}
	}
	expectReply(t, f.say("U05", "pool"), "• mysql-1: free")
}

func TestPoolReleaseIsForAdminsAndSaysSoInTheHoldersThread(t *testing.T) {
	f := newDeployFixture(t)
	f.worker(t)
	f.say("U05", "build")
	waitJob(t, f, 1, jobs.Running)
	expectReply(t, f.say("U05", "pool release mysql-1"), "only admins may release a resource; admins: <@U09>")
	expectReply(t, f.say("U09", "pool release mysql-1"), "Released mysql-1 (it was held by #1 since")
	evs, _ := f.store.ReadEvents(context.Background(), "0", 1000, 0)
	var said bool
	for _, e := range evs {
		if e.Job == 1 && e.Text.Slack() == "mysql-1 was released by <@U09>; this job no longer holds it" {
			said = true
		}
	}
	if !said {
		t.Error("the holding job's thread was not told")
	}
	expectReply(t, f.say("U09", "pool release mysql-9"), `there is no resource called "mysql-9"`)
}

func TestReasonsCannotCarrySlackMarkup(t *testing.T) {
	f := newDeployFixture(t)
	f.say("U01", "deploy production")
	// Slack sends what the person typed with &, < and > as entities.
	f.say("U03", "reject #1 &lt;!channel&gt; see &lt;https://evil.example|the job page&gt;")
	j := f.job(t, 1)
	want := "rejected by <@U03>: &lt;!channel&gt; see &lt;https://evil.example|the job page&gt;"
	if j.Reason.Slack() != want {
		t.Errorf("reason %q, want %q", j.Reason.Slack(), want)
	}
	expectReply(t, f.say("U01", "lock staging &lt;!here&gt; freeze"), "<@U01> locked staging: &lt;!here&gt; freeze")
}

func TestJobsWaitingForAResourceLeaveTheirWorkerSlot(t *testing.T) {
	f := newDeployFixture(t)
	// Two slots: while a build holds mysql-1 and another waits for it, a
	// deploy (no resources) still runs.
	gates := []jobs.Gate{&jobs.ResourceGate{Pools: f.pools}}
	w := jobs.NewWorker(f.store, f.log, local.New(local.Config{}), gates, jobs.WorkerConfig{Concurrency: 2})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	slow := "pipelines:\n  branch:\n    steps: [sleep 2]\n    resources: [mysql]\ndeploy:\n  staging:\n    steps: [echo deployed]\n"
	if err := os.WriteFile(filepath.Join(f.cfg.Repos["app"].Path, ".gantry.yml"), []byte(slow), 0o644); err != nil {
		t.Fatal(err)
	}
	expectReply(t, f.say("U05", "build"), "Queued #1")
	waitJob(t, f, 1, jobs.Running)
	expectReply(t, f.say("U05", "build"), "Queued #2")
	waitJob(t, f, 2, jobs.Waiting)
	expectReply(t, f.say("U05", "deploy staging"), "Queued #3")
	// #1 runs and #2 waits in the two slots; #3 can run only if #2 gave its slot back.
	waitJob(t, f, 3, jobs.Succeeded)
	if j := f.job(t, 1); j.State != jobs.Running {
		t.Errorf("#1 is %s: the deploy should have run while #1 held the resource", j.State)
	}
	waitJob(t, f, 2, jobs.Succeeded)
}
