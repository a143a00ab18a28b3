package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/slackserver"
)

// TestSlackFailedBuildMentionsTheCommitsAuthor: the reply at the end of a
// failed GitHub build mentions who wrote the commit, by the server
// config's users: map, else by their email in Slack; it still names the
// failing step, shows the last lines and offers Retry and Logs.
func TestSlackFailedBuildMentionsTheCommitsAuthor(t *testing.T) {
	const ch = "C0GHBROKEN"
	s := newSlackSession(t)
	dir := gitRepo(t, filepath.Join(t.TempDir(), "ghbroken"), map[string]string{
		".gantry.yml": "pipelines:\n  branch:\n    steps:\n      - echo building\n      - 'echo \"--- FAIL: TestPay\"; exit 3'\n",
	})
	gh := githubserver.New(t)
	gh.AddGitRepo("acme/broken", dir)
	gh.AddUser("octocat", "test@example.com") // gitRepo's author
	s.srv.AddUser(slackserver.User{ID: "U0DANA", Name: "dana", RealName: "Dana", Email: "dana@example.com"})

	s.addToConfig("ghbroken: {github: acme/broken, channel: "+ch+"}", "users: {octocat: U0OCTO}\n")
	s.env["GITHUB_TOKEN"], s.env["GITHUB_API_URL"] = githubserver.Token, gh.URL()
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)

	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: ch})
	card := s.card(ch, 1, "failed", time.Minute)
	s.sharedFile(ch, card.TS, 20*time.Second) // after the notice
	notice := s.costs(ch, 1)[0].notice
	text := notice.VisibleText()
	for _, want := range []string{"<@U0ALICE> :x: #1 failed in", "step 2 (", "--- FAIL: TestPay", "Commit by <@U0OCTO>"} {
		if !strings.Contains(text, want) {
			t.Errorf("the notice lacks %q:\n%s", want, text)
		}
	}
	if got := buttonLabels(notice); got != "Retry,Logs" {
		t.Errorf("the notice's buttons = %s, want Retry,Logs", got)
	}

	// A commit by someone the map does not name: found by their email.
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"add", "x"}, {"-c", "user.name=Dana", "-c", "user.email=dana@example.com", "commit", "-q", "-m", "x"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: ch})
	card = s.card(ch, 2, "failed", time.Minute)
	s.sharedFile(ch, card.TS, 20*time.Second)
	if text := s.costs(ch, 2)[1].notice.VisibleText(); !strings.Contains(text, "Commit by <@U0DANA>") {
		t.Errorf("the notice of #2 does not mention Dana:\n%s", text)
	}
}
