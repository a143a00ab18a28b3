package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// commitVersion commits a new version.txt on the checkout at dir and
// returns the commit's SHA.
func commitVersion(t *testing.T, dir, version string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "version.txt"), []byte(version), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"add", "."},
		{"-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "release " + version},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// In Slack: after deploys to staging and production (twice), a rollback
// of production goes out through approval, and envs and status production
// show what is deployed where and how the last deploys went.
func TestSlackEnvsStatusAndRollback(t *testing.T) {
	s := newSlackSession(t)
	cfg, err := os.ReadFile(s.env["GANTRY_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	hello := regexp.MustCompile(`hello: \{path: (\S+),`).FindSubmatch(cfg)[1]
	cfg = append(cfg, "environments:\n  staging: {deployers: [\"*\"]}\n  production: {deployers: ["+alice+"], approvers: ["+bob+"], approval: true}\n"...)
	if err := os.WriteFile(s.env["GANTRY_CONFIG"], cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)
	say := func(user, text string) {
		s.srv.SendSlashCommand(slackserver.SlashCommand{Text: text, UserID: user, ChannelID: chHello})
	}
	sha1 := commitVersion(t, string(hello), "v1")
	say(alice, "deploy staging")
	s.card(chHello, 1, "succeeded", time.Minute)
	say(alice, "deploy production")
	s.card(chHello, 2, "awaiting_approval", time.Minute)
	say(bob, "approve #2")
	s.card(chHello, 2, "succeeded", time.Minute)
	sha2 := commitVersion(t, string(hello), "v2")
	say(alice, "deploy production")
	s.card(chHello, 3, "awaiting_approval", time.Minute)
	say(bob, "approve #3")
	s.card(chHello, 3, "succeeded", time.Minute)

	say(alice, "rollback production")
	s.response(alice, "Rollback of production from #3 ("+sha2[:7]+") to what #2 deployed ("+sha1[:7]+")")
	card := s.card(chHello, 4, "awaiting_approval", time.Minute)
	if !strings.Contains(card.VisibleText(), sha1[:7]) {
		t.Errorf("the rollback's card does not show %s:\n%s", sha1[:7], card.VisibleText())
	}
	s.srv.WaitMessage(t, chHello, 30*time.Second, func(m slackserver.Message) bool {
		return m.ThreadTS == card.TS && strings.Contains(m.Text, "Rollback of production from #3")
	})
	say(bob, "approve #4")
	s.card(chHello, 4, "succeeded", time.Minute)

	say(bob, "envs")
	envs := s.response(bob, "*production*")
	for _, want := range []string{
		"*production*\nDeployed: hello@main (" + sha1[:7] + ") \"release v1\" by <@U0ALICE>",
		", #4\nNot locked\nDeployers: <@U0ALICE>; approval required, by <@U0BOB>",
		"*staging*\nDeployed: hello@main (" + sha1[:7] + ") \"release v1\" by <@U0ALICE>",
		", #1\nNot locked\nDeployers: everyone",
	} {
		if !strings.Contains(envs.Text, want) {
			t.Errorf("envs:\n%s\nwant it to contain %q", envs.Text, want)
		}
	}
	say(bob, "status production")
	st := s.response(bob, "Last deploys:")
	for _, want := range []string{
		"#4 deploy to production hello@main (" + sha1[:7] + ") by <@U0ALICE>: succeeded",
		"#3 deploy to production hello@main (" + sha2[:7] + ") by <@U0ALICE>: succeeded",
		"#2 deploy to production hello@main (" + sha1[:7] + ") by <@U0ALICE>: succeeded",
	} {
		if !strings.Contains(st.Text, want) {
			t.Errorf("status production:\n%s\nwant it to contain %q", st.Text, want)
		}
	}
}

// In the console: deploys to two environments, a rollback, envs and
// status ENV; a lock of 2 s lapses by itself and says so.
func TestConsoleEnvsStatusRollbackAndLapsingLock(t *testing.T) {
	dir := t.TempDir()
	hello := gitRepo(t, filepath.Join(dir, "hello"), map[string]string{
		".gantry.yml": "deploy:\n  staging:\n    steps: [echo \"deploying $(cat version.txt) to staging\"]\n" +
			"  production:\n    approval: true\n    steps: [echo \"deploying $(cat version.txt) to production\"]\n",
	})
	cfg := filepath.Join(dir, "gantry.yml")
	if err := os.WriteFile(cfg, []byte("repos:\n  hello: {path: "+hello+"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg})
	sha1 := commitVersion(t, hello, "v1")
	s.typeLine("deploy hello to staging")
	s.waitFor(`✅ #1 succeeded`, 20*time.Second)
	s.typeLine("deploy hello to production")
	s.waitFor(`#2: deploy hello@main \(`+sha1[:7]+`\) to production is awaiting approval`, 20*time.Second)
	s.typeLine("approve #2")
	s.waitFor(`✅ #2 succeeded`, 20*time.Second)
	sha2 := commitVersion(t, hello, "v2")
	s.typeLine("deploy hello to production")
	s.waitFor(`#3: deploy hello@main \(`+sha2[:7]+`\)`, 20*time.Second)
	s.typeLine("approve #3")
	s.waitFor(`✅ #3 succeeded`, 20*time.Second)

	s.typeLine("rollback production")
	s.waitFor(`#4: Rollback of production from #3 \(`+sha2[:7]+`\) to what #2 deployed \(`+sha1[:7]+`\)\. #4 is awaiting approval`, 20*time.Second)
	s.typeLine("approve #4")
	s.waitFor(`#4 +│ deploying v1 to production`, 20*time.Second)
	s.waitFor(`✅ #4 succeeded`, 20*time.Second)

	s.typeLine("envs")
	// The console prints each line of a reply after "gantry > ".
	s.waitFor(`production\*\ngantry > Deployed: hello@main \(`+sha1[:7]+`\) "release v1" by alice, [^\n]*, #4\ngantry > Not locked`, 10*time.Second)
	s.waitFor(`staging\*\ngantry > Deployed: hello@main \(`+sha1[:7]+`\) "release v1" by alice, [^\n]*, #1\ngantry > Not locked`, 10*time.Second)
	s.typeLine("status production")
	s.waitFor(`Last deploys:\ngantry > • ✅ #4 deploy to production hello@main \(`+sha1[:7]+`\) by alice: succeeded[^\n]*\ngantry > • ✅ #3 deploy to production hello@main \(`+sha2[:7]+`\)`, 10*time.Second)

	s.typeLine("lock staging for 2s smoke tests")
	s.waitFor(`locked staging: smoke tests\. Until .* \(2s\)`, 10*time.Second)
	s.waitFor(`The lock of \S+ on staging lapsed at .* and is released: deploys there go ahead\.`, 20*time.Second)
	s.typeLine("audit staging")
	s.waitFor(`gantry released the lapsed lock \(staging\): held by alice`, 10*time.Second)
}
