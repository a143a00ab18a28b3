package commands_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/scm"
)

// gitApp turns the fixture's app into a git checkout whose deploy stages
// print the version.txt of the commit they deploy, and returns a function
// that commits a new version and returns its SHA.
func gitApp(t *testing.T, f *deployFixture) func(version string) string {
	t.Helper()
	dir := f.cfg.Repos["app"].Path
	spec := "deploy:\n  staging:\n    steps: [echo \"deploying $(cat version.txt) to staging\"]\n" +
		"  production:\n    steps: [echo \"deploying $(cat version.txt) to production\"]\n"
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	return func(version string) string {
		if err := os.WriteFile(filepath.Join(dir, "version.txt"), []byte(version), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", ".")
		git("-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "release "+version)
		return git("rev-parse", "HEAD")
	}
}

// deployProduction asks U01 for a deploy to production, has U03 approve it
// and waits for it to succeed.
func deployProduction(t *testing.T, f *deployFixture, id int64) *jobs.Job {
	t.Helper()
	f.say("U01", "deploy production")
	expectReply(t, f.say("U03", "approve #"+itoa(id)), "You approved #"+itoa(id))
	return waitJob(t, f, id, jobs.Succeeded)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func logOf(t *testing.T, f *deployFixture, id int64) string {
	t.Helper()
	all, err := f.log.All(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(all)
}

// A rollback of production after two deploys deploys the first one's
// commit again, through approval, and says from what to what in the reply,
// the audit and the job's thread; "deploy production #1" does likewise.
func TestRollbackDeploysTheEarlierCommitThroughApproval(t *testing.T) {
	f := newDeployFixture(t)
	commit := gitApp(t, f)
	f.worker(t)
	sha1 := commit("v1")
	deployProduction(t, f, 1)
	sha2 := commit("v2")
	deployProduction(t, f, 2)

	rep := f.say("U02", "rollback production")
	expectReply(t, rep, "#3: Rollback of production from #2 ("+sha2[:7]+") to what #1 deployed ("+sha1[:7]+"). #3 is awaiting approval.")
	j := f.job(t, 3)
	if j.State != jobs.AwaitingApproval || j.SHA != sha1 || j.Ref != "main" || j.Env != "production" {
		t.Fatalf("the rollback is %s of %s@%s to %s; want awaiting approval of main at %s to production", j.State, j.Ref, j.SHA, j.Env, sha1)
	}
	expectReply(t, f.say("U02", "approve #3"), "you asked for #3, so another approver must approve it")
	expectReply(t, f.say("U03", "approve #3"), "You approved #3")
	waitJob(t, f, 3, jobs.Succeeded)
	if got := logOf(t, f, 3); !strings.Contains(got, "deploying v1 to production") {
		t.Errorf("the rollback did not deploy v1:\n%s", got)
	}
	expectReply(t, f.say("U09", "audit production"), "<@U02> requested deploy #3 (production): app@main ("+sha1[:7]+"), Rollback of production from #2")
	noted := false
	evs, _ := f.store.ReadEvents(context.Background(), "0", 1000, 0)
	for _, e := range evs {
		if e.Job == 3 && e.Type == jobs.EventNote && strings.Contains(e.Text.Slack(), "Rollback of production from #2") {
			noted = true
		}
	}
	if !noted {
		t.Error("the rollback's thread was not told what it rolls back")
	}

	// deploy ENV #N: what #2 deployed, again, through approval.
	expectReply(t, f.say("U01", "deploy production #2"), "#4: Deploys to production again what #2 deployed ("+sha2[:7]+"), in place of #3 ("+sha1[:7]+"). #4 is awaiting approval.")
	if j := f.job(t, 4); j.State != jobs.AwaitingApproval || j.SHA != sha2 {
		t.Fatalf("deploy production #2 is %s at %s, want awaiting approval at %s", j.State, j.SHA, sha2)
	}
	f.say("U03", "approve #4")
	waitJob(t, f, 4, jobs.Succeeded)
	if got := logOf(t, f, 4); !strings.Contains(got, "deploying v2 to production") {
		t.Errorf("deploy production #2 did not deploy v2:\n%s", got)
	}
	// Now v2 is deployed again: rollback goes back past it to v1.
	expectReply(t, f.say("U01", "rollback production"), "Rollback of production from #4 ("+sha2[:7]+") to what #3 deployed ("+sha1[:7]+")")
}

// Only a succeeded deploy to the same environment goes out again, and a
// rollback needs something to go back to.
func TestRollbackRefusals(t *testing.T) {
	f := newDeployFixture(t)
	commit := gitApp(t, f)
	f.worker(t)
	commit("v1")
	expectReply(t, f.say("U01", "rollback production"), "nothing to roll back: no deploy to production has succeeded yet")
	deployProduction(t, f, 1)
	expectReply(t, f.say("U01", "rollback production"), "nothing to roll back to: no deploy to production before #1")
	f.say("U01", "deploy staging")
	waitJob(t, f, 2, jobs.Succeeded)
	f.say("U01", "deploy production")
	f.say("U03", "reject #3 not today")
	expectReply(t, f.say("U01", "rollback production to #2"), "#2 is not a deploy to production, so it cannot be deployed there again")
	expectReply(t, f.say("U01", "deploy production #2"), "#2 is not a deploy to production")
	expectReply(t, f.say("U01", "rollback production to #3"), "#3 did not succeed (it is cancelled): only a deploy that succeeded can be deployed again")
	expectReply(t, f.say("U01", "rollback production to #99"), "there is no job #99")
	expectReply(t, f.say("U04", "rollback production to #1"), "you may not deploy to production")
	if _, err := f.store.Get(context.Background(), 4); err == nil {
		t.Fatal("a refused rollback was queued")
	}
	// A rollback goes through the lock like any deploy.
	f.say("U02", "lock production")
	expectReply(t, f.say("U01", "rollback production to #1"), "production is locked by <@U02>")
}

// notices records what the service says where locks were taken.
type notices struct {
	mu   sync.Mutex
	said []string
}

func (n *notices) Notice(_ context.Context, channel, thread, mention string, text say.Text) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.said = append(n.said, channel+" "+thread+" "+mention+": "+text.Slack())
	return nil
}

func (n *notices) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.said...)
}

func withNotices(f *deployFixture) *notices {
	n := &notices{}
	f.svc = commands.NewService(commands.Deps{Config: f.cfg, Store: f.store, Log: f.log, Sources: scm.NewResolver(f.cfg, nil), Pools: f.pools, Notices: n})
	return n
}

func (f *deployFixture) sweep(t *testing.T) {
	t.Helper()
	if err := f.svc.SweepLocks(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A lock of 2 s on the test clock: its holder is reminded once shortly
// before, it stops standing at its expiry, and the sweep releases it once,
// audited and said where it was taken.
func TestLockLapsesWithAReminderAndAnAuditEntry(t *testing.T) {
	f := newDeployFixture(t)
	n := withNotices(f)
	expectReply(t, f.say("U01", "lock staging for 2s smoke tests"), "<@U01> locked staging: smoke tests. Until 2026-11-23 14:00 UTC (2s)")
	expectReply(t, f.say("U02", "deploy staging"), "staging is locked by <@U01>")
	f.clock.Add(1500 * time.Millisecond)
	f.sweep(t)
	if got := n.all(); len(got) != 0 {
		t.Fatalf("notices before the reminder is due: %q", got)
	}
	f.clock.Add(200 * time.Millisecond) // a sixth of 2s before it lapses
	f.sweep(t)
	f.sweep(t)
	if got := n.all(); len(got) != 1 || !strings.HasPrefix(got[0], "C0APPS  U01: Your lock on staging lapses at 2026-11-23 14:00 UTC") {
		t.Fatalf("notices %q: want one reminder to U01 in C0APPS", got)
	}
	expectReply(t, f.say("U02", "deploy staging"), "staging is locked by <@U01>")
	f.clock.Add(300 * time.Millisecond)
	// Lapsed: it no longer stands, even before the sweep.
	expectReply(t, f.say("U02", "status staging"), "Not locked")
	f.sweep(t)
	f.sweep(t)
	got := n.all()
	if len(got) != 2 || got[1] != "C0APPS  U01: The lock of <@U01> on staging lapsed at 2026-11-23 14:00 UTC and is released: deploys there go ahead." {
		t.Fatalf("notices %q: want the reminder, then one release", got)
	}
	expectReply(t, f.say("U09", "audit staging"), "gantry released the lapsed lock (staging): held by U01")
	expectReply(t, f.say("U02", "deploy staging"), "Queued #1")
}

// A deploy that waits for someone else's lock goes ahead once it lapses.
func TestWaitingDeployGoesAheadWhenTheLockLapses(t *testing.T) {
	f := newDeployFixture(t)
	expectReply(t, f.say("U05", "deploy staging"), "Queued #1")
	f.say("U01", "lock staging for 2s")
	f.worker(t)
	waitJob(t, f, 1, jobs.Waiting)
	f.clock.Add(2 * time.Second)
	waitJob(t, f, 1, jobs.Succeeded)
}

// The default expiry is the environment's lock_ttl, else 8h.
func TestLockDefaultsToTheEnvironmentsLockTTL(t *testing.T) {
	f := newDeployFixture(t)
	prod := f.cfg.Environments["production"]
	prod.LockTTL = 30 * time.Minute
	f.cfg.Environments["production"] = prod
	expectReply(t, f.say("U01", "lock production"), "Until 2026-11-23 14:30 UTC (30m)")
	expectReply(t, f.say("U01", "lock staging"), "Until 2026-11-23 22:00 UTC (8h)")
}

// --force is for admins: anyone else is refused and told who may; an
// admin's frees the lock, is audited, and the holder is told where they
// took it.
func TestForcedUnlockIsForAdmins(t *testing.T) {
	f := newDeployFixture(t)
	n := withNotices(f)
	f.say("U01", "lock staging release freeze")
	expectReply(t, f.say("U02", "unlock staging --force"), "only admins may force an unlock; admins: <@U09>")
	expectReply(t, f.say("U02", "unlock staging"), "only they may unlock it, or an admin with `unlock staging --force` (admins: <@U09>)")
	expectReply(t, f.say("U09", "unlock staging"), "only they may unlock it")
	if l, _ := f.store.EnvLock(context.Background(), "staging"); l == nil || l.Holder != "U01" {
		t.Fatalf("a refused unlock freed the lock: %+v", l)
	}
	rep := f.svc.Handle(context.Background(), &commands.Request{User: "U09", Channel: "D0ADMIN", Text: "unlock staging --force"})
	expectReply(t, rep, "<@U09> force-unlocked staging, which <@U01> held.")
	if rep.Ephemeral {
		t.Error("a forced unlock was said to the admin alone")
	}
	if got := n.all(); len(got) != 1 || got[0] != "C0APPS  U01: <@U09> force-unlocked staging, which <@U01> held." {
		t.Errorf("notices %q: want the holder told where they locked", got)
	}
	expectReply(t, f.say("U09", "audit staging"), "<@U09> force-unlocked (staging): held by U01")
	expectReply(t, f.say("U02", "deploy staging"), "Queued #1")
}

// envs and status ENV show what is deployed where, the lock, the policy,
// what waits and how the last deploys went.
func TestEnvsShowsWhatIsDeployedWhere(t *testing.T) {
	f := newDeployFixture(t)
	commit := gitApp(t, f)
	f.worker(t)
	sha1 := commit("v1")
	f.say("U05", "deploy staging")
	waitJob(t, f, 1, jobs.Succeeded)
	deployProduction(t, f, 2)
	sha2 := commit("v2")
	f.say("U01", "deploy production") // #3 waits for approval
	f.say("U01", "lock staging for 2h tests")
	rep := f.say("U05", "envs")
	for _, want := range []string{
		"*production*\nDeployed: app@main (" + sha1[:7] + ") \"release v1\" by <@U01>, 2026-11-23 14:00 UTC, #2\nNot locked\n" +
			"Deployers: <@U01>, <@U02>, <@U05>; approval required, by <@U02>, <@U03>\n" +
			"Waiting: :raised_hand: #3 deploy to production app@main (" + sha2[:7] + ") by <@U01>: awaiting_approval",
		"*staging*\nDeployed: app@main (" + sha1[:7] + ") \"release v1\" by <@U05>, 2026-11-23 14:00 UTC, #1\n" +
			"Locked by <@U01> since 2026-11-23 14:00 UTC: tests (until 2026-11-23 16:00 UTC)\n" +
			"Deployers: everyone; approval where the deploy stage asks for it, by <@U09>",
	} {
		expectReply(t, rep, want)
	}
	st := f.say("U05", "status production")
	expectReply(t, st, "Not locked\nDeployed: app@main ("+sha1[:7]+") \"release v1\" by <@U01>, 2026-11-23 14:00 UTC, #2\nLast deploys:")
	expectReply(t, st, "#3 deploy to production app@main ("+sha2[:7]+") by <@U01>: awaiting_approval")
	expectReply(t, st, "#2 deploy to production app@main ("+sha1[:7]+") by <@U01>: succeeded")
}
