package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// waitErr waits until the console's log matches re count times.
func (s *consoleSession) waitErr(re string, count int, within time.Duration) {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if len(rx.FindAllString(s.errOut.String(), -1)) >= count {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("the log never showed %q %d times", re, count)
}

// TestSIGHUPReloadsConfigAndKeepsOldOnError: a SIGHUP to the process makes
// the console read gantry.yml again; the next command acts on the new
// policy. A file that does not validate is reported with its file:line and
// the policy in use stays.
func TestSIGHUPReloadsConfigAndKeepsOldOnError(t *testing.T) {
	dir := t.TempDir()
	hello := gitRepo(t, filepath.Join(dir, "hello"), map[string]string{
		".gantry.yml": "deploy:\n  staging:\n    steps: [echo \"deploying to staging\"]\n",
	})
	cfg := filepath.Join(dir, "gantry.yml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("repos:\n  hello: {path: " + hello + "}\nenvironments:\n  staging: {deployers: ['@bob']}\n")
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg})
	s.waitFor(`Ctrl-D quits`, 20*time.Second) // the SIGHUP handler is in place
	s.typeLine("envs")
	s.waitFor(`staging\*\ngantry > Nothing deployed yet\ngantry > Not locked\ngantry > Deployers: bob;`, 10*time.Second)
	s.typeLine("deploy hello to staging") // the console's user is alice
	s.waitFor(`you may not deploy to staging; deployers: bob\n`, 10*time.Second)

	// Alice may deploy to staging now, with carol's approval; the workers
	// count and a new environment need a restart: they are named, the
	// rest applies.
	write("repos:\n  hello: {path: " + hello + "}\n  again: {path: " + hello + "}\nworkers: 2\nenvironments:\n" +
		"  staging: {deployers: ['@bob', '@alice'], approval: true, approvers: ['@carol']}\n  qa: {deployers: ['*']}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitErr(`msg="config reloaded" changed="repos\.again, environments\.staging" needs_restart="workers, environments\.qa \(a new environment\)"`, 1, 10*time.Second)
	for _, key := range []string{"workers", `"environments\.qa \(a new environment\)"`} {
		s.waitErr(`level=WARN msg="config reload: this change needs a restart; the running value is kept" key=`+key, 1, time.Second)
	}
	s.typeLine("deploy again to staging")
	s.waitFor(`#1: deploy again@main \([0-9a-f]{7}\) to staging is awaiting approval`, 20*time.Second)

	// A broken file: one line with the file, the line and the problem,
	// and the policy in use stays.
	write("repos:\n  hello: {path: " + hello + "}\nenvironments:\n  staging: {approval: maybe}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitErr(`level=ERROR msg="config not reloaded, keeping the one in use: `+regexp.QuoteMeta(cfg)+`:4: approval in environment \\"staging\\": [^\n]*"`, 1, 10*time.Second)
	s.typeLine("deploy again to staging")
	s.waitFor(`#2: deploy again@main \([0-9a-f]{7}\) to staging is awaiting approval`, 20*time.Second)
	s.typeLine("envs")
	s.waitFor(`staging\*\n(gantry > [^\n]*\n)*gantry > Deployers: bob, alice; approval required, by carol\n`, 10*time.Second)
	if strings.Contains(s.out.String(), "*qa*") {
		t.Error("envs lists qa, an environment added by a reload: it has no deploy queue until a restart")
	}
	if n := strings.Count(s.errOut.String(), `msg="config reloaded"`); n != 1 {
		t.Errorf("%d reloads logged, want 1", n)
	}
}

// TestSIGHUPWithTheDefaultFileGoneKeepsTheConfig: with no GANTRY_CONFIG,
// gantry reads ./gantry.yml; a reload after it was moved away (a save by
// rename, a checkout) fell back to the built-in defaults and dropped every
// repo, environment and admin.
func TestSIGHUPWithTheDefaultFileGoneKeepsTheConfig(t *testing.T) {
	dir := t.TempDir()
	hello := gitRepo(t, filepath.Join(dir, "hello"), map[string]string{
		".gantry.yml": "deploy:\n  staging:\n    steps: [echo \"deploying to staging\"]\n",
	})
	if err := os.WriteFile(filepath.Join(dir, "gantry.yml"), []byte("repos:\n  hello: {path: "+hello+"}\nenvironments:\n  staging: {deployers: ['@bob']}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	s := startConsole(t, nil)
	s.waitFor(`Ctrl-D quits`, 20*time.Second)
	if err := os.Remove(filepath.Join(dir, "gantry.yml")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitErr(`level=ERROR msg="config not reloaded, keeping the one in use: GANTRY_CONFIG: cannot read gantry.yml: [^"]*no such file`, 1, 10*time.Second)
	s.typeLine("envs")
	s.waitFor(`staging\*\n(gantry > [^\n]*\n)*gantry > Deployers: bob;`, 10*time.Second)
	if strings.Contains(s.errOut.String(), `msg="config reloaded"`) {
		t.Errorf("a reload without the file applied something:\n%s", s.errOut)
	}
}

// TestSIGHUPDuringStartUpDoesNotStopGantry: gantry caught SIGHUP only once
// its config was in use, and Go's default for it is to exit, so a reload
// sent while a worker waited for Redis killed it.
func TestSIGHUPDuringStartUpDoesNotStopGantry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c // a Redis that never answers
		}
	}()
	t.Setenv("REDIS_URL", "redis://"+l.Addr().String())
	t.Setenv("GANTRY_CONFIG", "")
	cmd, errOut, done := startGantry(t, "worker")
	conn := <-accepted // the worker is past catching signals: it pings Redis
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// Now Redis goes away: the worker stops by itself, saying why.
	l.Close()
	conn.Close()
	for c := range accepted {
		c.Close()
	}
	if code := exitWithin(t, done, 30*time.Second, errOut); code != 1 || !strings.Contains(errOut.String(), "gantry: REDIS_URL: cannot reach") {
		t.Errorf("the worker exited %d (want 1, not killed by SIGHUP); stderr: %s", code, errOut)
	}
}

// TestPoolAddedByAReloadSaysItTakesARestart: a pool a reload added was
// reported as "not defined in gantry.yml", though the file defines it.
func TestPoolAddedByAReloadSaysItTakesARestart(t *testing.T) {
	dir := t.TempDir()
	hello := gitRepo(t, filepath.Join(dir, "hello"), map[string]string{
		".gantry.yml": "resources: [mysql]\npipelines:\n  branch: {steps: [echo $GANTRY_RESOURCE_MYSQL]}\n",
	})
	cfg := filepath.Join(dir, "gantry.yml")
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("repos:\n  hello: {path: " + hello + "}\npools:\n  pg: [pg-1]\n")
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg})
	s.waitFor(`Ctrl-D quits`, 20*time.Second)
	write("repos:\n  hello: {path: " + hello + "}\npools:\n  pg: [pg-1]\n  mysql: [mysql-1]\nenvironments:\n  qa: {deployers: ['*']}\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitErr(`msg="config reloaded"`, 1, 10*time.Second)
	s.typeLine("build hello")
	s.waitFor(`nothing was queued: [^\n]*pool "mysql" was added to gantry.yml by a reload and is in use only once gantry restarts`, 10*time.Second)

	// The same for an environment, as the config gate and the chat read it.
	live := s.m.reloading.Load().p.live.Load()
	if got := live.UndefinedEnv("qa", ""); !strings.Contains(got, `environment "qa" was added to gantry.yml by a reload`) {
		t.Errorf("UndefinedEnv(qa) after the reload = %q", got)
	}
	if got := live.UndefinedEnv("prod", ""); !strings.Contains(got, `environment "prod" is not defined in gantry.yml`) {
		t.Errorf("UndefinedEnv(prod) = %q", got)
	}
}

// slackNamesConfig writes the session's gantry.yml with the hello repo
// and extra, and returns it.
func slackNamesConfig(t *testing.T, s *slackSession, extra string) {
	t.Helper()
	hello := filepath.Join(filepath.Dir(s.env["GANTRY_CONFIG"]), "hello")
	cfg := "repos:\n  hello: {path: " + hello + ", channel: '#builds'}\nrunner: {local: {trusted: true}}\n" + extra
	if err := os.WriteFile(s.env["GANTRY_CONFIG"], []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// slackPeople puts alice, bob and carol, the releasers group (bob) and
// the #builds channel in the fake workspace.
func slackPeople(s *slackSession) {
	s.srv.AddUser(slackserver.User{ID: alice, Name: "alice", DisplayName: "Alice L."})
	s.srv.AddUser(slackserver.User{ID: bob, Name: "bob"})
	s.srv.AddUser(slackserver.User{ID: "U0CAROL", Name: "carol", DisplayName: "Carol"})
	s.srv.AddUser(slackserver.User{ID: "U0GONE", Name: "alicia", Deleted: true})
	s.srv.SetUserGroup("S0REL", bob)
	s.srv.SetUserGroupHandle("S0REL", "releasers")
	s.srv.AddChannel(slackserver.Channel{ID: chHello, Name: "builds"})
}

// TestSlackNamesInConfigResolveAtStart: #builds, @releasers and "@alice
// l." (a display name) in gantry.yml act as the channel, group and person
// they name; the workspace is read once at start, and again on reload,
// where a new name applies and an unknown one keeps the config in use.
func TestSlackNamesInConfigResolveAtStart(t *testing.T) {
	s := newSlackSession(t)
	slackPeople(s)
	slackNamesConfig(t, s, "admins: ['@Alice L.']\nenvironments:\n  staging: {deployers: ['@releasers']}\n")
	run := s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)
	say := func(user, text string) {
		s.srv.SendSlashCommand(slackserver.SlashCommand{Text: text, UserID: user, ChannelID: chHello})
	}
	say("U0CAROL", "build") // the channel's repo: #builds is C0BUILDS
	s.response("U0CAROL", "Queued #1: build hello@main")
	say("U0CAROL", "deploy staging")
	if r := s.response("U0CAROL", "you may not deploy to staging"); !strings.Contains(r.Text, "S0REL") {
		t.Errorf("the refusal does not name the group @releasers stands for: %s", r.Text)
	}
	say(bob, "deploy staging") // in @releasers
	s.response(bob, "Queued #2: deploy hello@main")
	say("U0CAROL", "unlock staging --force")
	s.response("U0CAROL", "only admins may force an unlock; admins: <@U0ALICE>") // by display name
	// which gantry points out: its owner may change it, and another take it.
	if !strings.Contains(s.errOut.String(), `admins: @Alice L. is the display name of user @alice, which they (or, once they change it, someone else) may change; write @alice or U0ALICE`) {
		t.Errorf("gantry did not warn of the admin named by display name:\n%s", s.errOut)
	}
	for method, want := range map[string]int{"users.list": 1, "usergroups.list": 1, "conversations.list": 1} {
		if n := len(s.srv.Calls(method)); n != want {
			t.Errorf("%d calls of %s at start, want %d", n, method, want)
		}
	}

	// Reload: carol may deploy now.
	slackNamesConfig(t, s, "admins: ['@Alice L.']\nenvironments:\n  staging: {deployers: ['@releasers', '@carol']}\n")
	if err := run.m.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	say("U0CAROL", "deploy staging")
	s.response("U0CAROL", "Queued #3: deploy hello@main")
	if n := len(s.srv.Calls("users.list")); n != 2 {
		t.Errorf("%d calls of users.list after one reload, want 2", n)
	}

	// A typo: the reload fails with the name's line and a hint, and carol
	// still may deploy.
	slackNamesConfig(t, s, "admins: ['@Alice L.']\nenvironments:\n  staging: {deployers: ['@releasers']}\nusers:\n  octocat: '@alic'\n")
	err := run.m.reload(context.Background())
	want := s.env["GANTRY_CONFIG"] + ":8: users: octocat: no Slack user @alic in this workspace (by handle or display name) — did you mean @alice?"
	if err == nil || err.Error() != want {
		t.Fatalf("reload: %v, want %s", err, want)
	}
	say("U0CAROL", "deploy staging")
	s.response("U0CAROL", "Queued #4: deploy hello@main")
}

// TestReloadRidesOutASlackThatNeverAnswers: gantry's Slack calls had no
// deadline, so a Slack that took a reload's users.list and never answered
// held that reload, and every SIGHUP after it, for ever. Now the call
// times out, is tried again, and the reload goes through.
func TestReloadRidesOutASlackThatNeverAnswers(t *testing.T) {
	s := newSlackSession(t)
	slackPeople(s)
	slackNamesConfig(t, s, "admins: ['@alice']\n")
	s.tune = func(m *Main) { m.slackTimeout = time.Second }
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)
	s.srv.HangNext("users.list", 1)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	// users.list is paced at Slack's Tier 2 (20 a minute): the retry waits.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.errOut.String(), `msg="config reloaded"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the reload never ended; users.list calls: %d", s.srv.CallCount("users.list"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	timedOut := regexp.MustCompile(`msg="slack call failed; trying again" method=users\.list [^\n]*Client\.Timeout exceeded`)
	// At least: at start, the call that hung, and its retry (a slow
	// machine may time out and retry at start too).
	if !timedOut.MatchString(s.errOut.String()) || s.srv.CallCount("users.list") < 3 {
		t.Errorf("want users.list at start, the call that hung and its retry (%d calls), and the timeout logged", s.srv.CallCount("users.list"))
	}
}

// TestUnknownSlackNameStopsStartWithFileLine: names that are not in the
// workspace stop start-up, one line each with file:line and a hint.
func TestUnknownSlackNameStopsStartWithFileLine(t *testing.T) {
	s := newSlackSession(t)
	slackPeople(s)
	slackNamesConfig(t, s, "admins: ['@alicia', '@bobb']\nweb: {public_channels: ['#bulids']}\n")
	s.wantExit = 1
	s.start("serve")
	if code := s.exit(30 * time.Second); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	cfg := s.env["GANTRY_CONFIG"]
	for _, want := range []string{
		"gantry: " + cfg + ":4: admins: no Slack user or user group @alicia in this workspace (by handle or display name) — did you mean @alice?\n",
		cfg + ":4: admins: no Slack user or user group @bobb in this workspace (by handle or display name) — did you mean @bob?\n",
		cfg + ":5: public_channels in web: no Slack channel #bulids that gantry can see (a private channel must have gantry invited; an archived one is left out) — did you mean #builds?\n",
	} {
		if !strings.Contains(s.errOut.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, s.errOut)
		}
	}
	if strings.Contains(s.errOut.String(), "gantry is serving Slack") {
		t.Error("gantry served Slack with names it could not resolve")
	}
}

// TestWorkerReloadNamesWhatNeedsARestart: a worker acts on no policy, but
// a reload still checks the file and names each change it will only
// apply when restarted.
func TestWorkerReloadNamesWhatNeedsARestart(t *testing.T) {
	s := newSlackSession(t)
	run := s.start("worker")
	s.srv.WaitFor(t, 20*time.Second, "the worker to start", func(*slackserver.Server) bool {
		return strings.Contains(s.errOut.String(), `msg="worker started"`)
	})
	cfg, err := os.ReadFile(s.env["GANTRY_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(strings.Replace(string(cfg), "workers: 10", "workers: 3", 1), "db: [db-1, db-2]", "db: [db-1, db-2, db-3]", 1)
	if err := os.WriteFile(s.env["GANTRY_CONFIG"], []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run.m.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`level=WARN msg="config reload: this change needs a restart; the running value is kept" key=workers`,
		`level=WARN msg="config reload: this change needs a restart; the running value is kept" key=pools`,
		`level=INFO msg="config reloaded" changed=nothing needs_restart="workers, pools"`,
	} {
		if !strings.Contains(s.errOut.String(), want) {
			t.Errorf("the log does not say %s:\n%s", want, s.errOut)
		}
	}
}

// TestReloadThatRemovesAnEnvironmentStopsItsQueuedDeploys: a deploy that
// waits in the queue while a reload removes its environment from
// gantry.yml does not deploy when a worker takes it: it ends errored,
// saying the environment is not defined.
func TestReloadThatRemovesAnEnvironmentStopsItsQueuedDeploys(t *testing.T) {
	s := newSlackSession(t)
	// The one worker is busy with a build of slow while the deploy queues.
	removedEnvStopsDeploy(t, s, func(cfg string) string { return strings.Replace(cfg, "workers: 10", "workers: 1", 1) },
		chSlow, "build", "queued")
}

// TestReloadThatRemovesAnEnvironmentStopsDeploysWaitingForIt: the same
// for a deploy a worker holds already, waiting for its turn behind another
// deploy there: once the turn comes, it ends errored rather than deploy.
func TestReloadThatRemovesAnEnvironmentStopsDeploysWaitingForIt(t *testing.T) {
	s := newSlackSession(t)
	const chLong = "C0LONG"
	long := gitRepo(t, filepath.Join(t.TempDir(), "long"), map[string]string{
		".gantry.yml": "deploy:\n  staging:\n    steps: [\"echo rolling out; sleep 300\"]\n",
	})
	removedEnvStopsDeploy(t, s, func(cfg string) string {
		return strings.Replace(cfg, "repos:\n", "repos:\n  long: {path: "+long+", channel: "+chLong+"}\n", 1)
	}, chLong, "deploy staging", "waiting")
}

// removedEnvStopsDeploy runs gantry serve on the session's gantry.yml, as
// edit changes it, plus a staging environment. Alice types blocker in
// blockerChannel (job #1, which keeps running) and then deploys hello to
// staging (#2, which must reach state); a reload removes staging and #1
// is cancelled. #2 must end errored, saying staging is not defined,
// without deploying.
func removedEnvStopsDeploy(t *testing.T, s *slackSession, edit func(string) string, blockerChannel, blocker, state string) {
	t.Helper()
	path := s.env["GANTRY_CONFIG"]
	base, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	without := edit(string(base))
	if err := os.WriteFile(path, []byte(without+"environments:\n  staging: {deployers: [\"*\"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run := s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)
	say := func(channel, text string) {
		s.srv.SendSlashCommand(slackserver.SlashCommand{Text: text, UserID: alice, ChannelID: channel})
	}
	say(blockerChannel, blocker)
	s.card(blockerChannel, 1, "running", time.Minute)
	say(chHello, "deploy staging")
	s.card(chHello, 2, state, time.Minute)

	if err := os.WriteFile(path, []byte(without), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run.m.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	say(blockerChannel, "cancel #1")
	card := s.card(chHello, 2, "errored", time.Minute)
	if want := `environment "staging" is not defined`; !strings.Contains(card.VisibleText(), want) {
		t.Errorf("the deploy's card does not say %s:\n%s", want, card.VisibleText())
	}
	for _, m := range s.srv.History(chHello) {
		if strings.Contains(m.Text, "to staging") && strings.Contains(m.Text, "deploying") {
			t.Errorf("the deploy ran: %s", m.Text)
		}
	}
}

// TestCheckResolvesSlackNamesWithTokens: gantry check of a server config
// resolves its @names and #channels against Slack, as start does, when
// the Slack tokens are set, and names each unknown one at its line;
// without them it says the names are left for start.
func TestCheckResolvesSlackNamesWithTokens(t *testing.T) {
	s := newSlackSession(t)
	slackPeople(s)
	check := func(env map[string]string) (int, string, string) {
		t.Helper()
		return runMainEnv(t, env, "check", s.env["GANTRY_CONFIG"])
	}
	cfg := s.env["GANTRY_CONFIG"]

	slackNamesConfig(t, s, "admins: ['@alice', '@releasers']\n")
	if code, out, errOut := check(s.env); code != 0 || !strings.Contains(out, "names: every @name and #channel is in the Slack workspace") {
		t.Errorf("check of known names: exit %d\n%s%s", code, out, errOut)
	}

	slackNamesConfig(t, s, "admins: ['@alicia']\n")
	code, _, errOut := check(s.env)
	if want := cfg + ":4: admins: no Slack user or user group @alicia in this workspace (by handle or display name) — did you mean @alice?\n"; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check of an unknown name: exit %d, want 1 and %q:\n%s", code, want, errOut)
	}
	if code, out, _ := check(map[string]string{}); code != 0 || !strings.Contains(out, "names: not checked: gantry resolves @names and #channels against Slack when it starts") {
		t.Errorf("check without tokens: exit %d\n%s", code, out)
	}
}
