package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
)

// Channels bound to the test repos, and the people in them.
const (
	chHello  = "C0BUILDS"
	chSlow   = "C0SLOW"
	chChatty = "C0CHATTY"
	alice    = "U0ALICE"
	bob      = "U0BOB"
	admin    = "U0ADMIN"
)

// slackSession is `gantry serve` running in-process against the fake Slack
// and a real Redis.
type slackSession struct {
	t      *testing.T
	srv    *slackserver.Server
	errOut *syncBuffer
	done   chan int
	// wantExit is the exit code the session should end with.
	wantExit int
}

// gitRepo makes a git checkout with files, committed on main.
func gitRepo(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "."},
		{"-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "init"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(examples("hello"), name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startSlack runs gantry serve with three repos bound to channels: hello
// (the example), slow (a step that sleeps) and chatty (a step that prints
// tens of thousands of lines).
func startSlack(t *testing.T, opts ...slackserver.Option) *slackSession {
	t.Helper()
	srv := slackserver.New(t, opts...)
	rdb := redistest.Start(t)
	dir := t.TempDir()
	hello := gitRepo(t, filepath.Join(dir, "hello"), map[string]string{
		// The last step takes a moment, so the job message shows it running:
		// edits come at most once a second and show the newest state.
		".gantry.yml": strings.Replace(readExample(t, ".gantry.yml"), "- ./greet.sh world", "- sleep 1.5; ./greet.sh world", 1),
		"greet.sh":    readExample(t, "greet.sh"),
	})
	slow := gitRepo(t, filepath.Join(dir, "slow"), map[string]string{
		".gantry.yml": "pipelines:\n  branch:\n    steps:\n      - echo sleeping; sleep 300\n",
	})
	chatty := gitRepo(t, filepath.Join(dir, "chatty"), map[string]string{
		".gantry.yml": "pipelines:\n  branch:\n    steps:\n      - for i in $(seq 0 15); do seq -f 'line %g' $((i*3000+1)) $((i*3000+3000)); sleep 0.5; done\n",
	})
	cfg := "repos:\n" +
		"  hello: {path: " + hello + ", channel: " + chHello + "}\n" +
		"  slow: {path: " + slow + ", channel: " + chSlow + "}\n" +
		"  chatty: {path: " + chatty + ", channel: " + chChatty + "}\n" +
		"admins: [" + admin + "]\n" +
		"runner: {local: {trusted: true}}\n"
	cfgPath := filepath.Join(dir, "gantry.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"SLACK_APP_TOKEN": slackserver.AppToken, "SLACK_BOT_TOKEN": slackserver.BotToken, "SLACK_API_URL": srv.APIURL(),
		"REDIS_URL": rdb.URL(), "GANTRY_CONFIG": cfgPath, "GANTRY_HTTP_ADDR": "127.0.0.1:0",
	}
	s := &slackSession{t: t, srv: srv, errOut: &syncBuffer{}, done: make(chan int, 1)}
	m := &Main{Args: []string{"serve"}, Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: s.errOut}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-s.done:
			if code != s.wantExit {
				t.Errorf("gantry serve exited with %d, want %d", code, s.wantExit)
			}
		case <-time.After(30 * time.Second):
			t.Error("gantry serve did not stop")
		}
		_ = m.Close()
		if t.Failed() {
			t.Logf("stderr:\n%s", s.errOut)
		}
	})
	srv.WaitConnection(t, 1, 20*time.Second)
	return s
}

// card waits for job n's message at the top of channel, in a state that
// matches state (a regular expression of its text), and returns it.
func (s *slackSession) card(channel string, n int, state string, within time.Duration) slackserver.Message {
	s.t.Helper()
	prefix := "#" + itoa(n) + " "
	rx := regexp.MustCompile(`: ` + state + `\b`)
	var got slackserver.Message
	s.srv.WaitFor(s.t, within, "job message "+prefix+"in state "+state, func(srv *slackserver.Server) bool {
		for _, m := range srv.History(channel) {
			if m.FromBot() && strings.HasPrefix(m.Text, prefix) && rx.MatchString(m.Text) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// cards counts the job messages of job n at the top of channel.
func (s *slackSession) cards(channel string, n int) int {
	count := 0
	for _, m := range s.srv.History(channel) {
		if m.FromBot() && strings.HasPrefix(m.Text, "#"+itoa(n)+" ") {
			count++
		}
	}
	return count
}

// response waits for an answer to user through a response_url whose text
// contains want.
func (s *slackSession) response(user, want string) slackserver.ResponsePost {
	s.t.Helper()
	var got slackserver.ResponsePost
	s.srv.WaitFor(s.t, 15*time.Second, "a response to "+user+" saying "+want, func(srv *slackserver.Server) bool {
		for _, p := range srv.ResponsePosts() {
			if p.User == user && p.Error == "" && strings.Contains(p.Text, want) {
				got = p
				return true
			}
		}
		return false
	})
	return got
}

// ephemeral waits for an ephemeral message to user containing want.
func (s *slackSession) ephemeral(user, want string) slackserver.Ephemeral {
	s.t.Helper()
	return s.srv.WaitEphemeral(s.t, user, 15*time.Second, func(e slackserver.Ephemeral) bool { return strings.Contains(e.Text, want) })
}

func itoa(n int) string { return strconv.Itoa(n) }

// exit waits for gantry to stop by itself and returns its exit code.
func (s *slackSession) exit(within time.Duration) int {
	s.t.Helper()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(within):
		s.t.Fatalf("gantry did not stop within %v", within)
		return 0
	}
}

// liveLog returns the live-log message in the thread of the job message at
// ts, and whether there is one.
func (s *slackSession) liveLog(channel, ts string) (slackserver.Message, bool) {
	for _, m := range s.srv.Thread(channel, ts) {
		if strings.HasPrefix(m.Text, "Live log of #") || strings.HasPrefix(m.Text, "Log of #") {
			return m, true
		}
	}
	return slackserver.Message{}, false
}

// sharedFile waits for a file shared in the thread at ts.
func (s *slackSession) sharedFile(channel, ts string, within time.Duration) slackserver.File {
	s.t.Helper()
	var file slackserver.File
	s.srv.WaitFor(s.t, within, "a file shared in the thread of "+ts, func(srv *slackserver.Server) bool {
		for _, f := range srv.Files() {
			for _, sh := range f.Shares {
				if sh.Channel == channel && sh.ThreadTS == ts {
					file = f
					return true
				}
			}
		}
		return false
	})
	return file
}

func TestSlackBuildShowsJobMessageLiveLogAndOneNotice(t *testing.T) {
	s := startSlack(t)
	env := s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, UserName: "alice", ChannelID: chHello})
	ack := s.srv.WaitAck(t, env.ID, 5*time.Second)
	if ack.Payload != nil {
		t.Errorf("ack carries a payload %s; gantry acks empty and answers through the Web API", ack.Payload)
	}
	q := s.response(alice, "Queued #1: build hello@main")
	if q.ResponseType != "ephemeral" {
		t.Errorf("the queued answer is %s, want ephemeral", q.ResponseType)
	}
	card := s.card(chHello, 1, "succeeded", time.Minute)
	if !regexp.MustCompile(`^#1 build hello@main \([0-9a-f]{7}\) by <@U0ALICE>: succeeded, `).MatchString(card.Text) {
		t.Errorf("job message text = %q", card.Text)
	}
	if got := buttonLabels(card); got != "Retry,Logs" {
		t.Errorf("buttons of the finished job = %s, want Retry,Logs", got)
	}
	sawRunning := false
	for _, rev := range card.Revisions {
		if strings.Contains(rev.Text, ": running") && strings.Contains(rev.Blocks, `"action_id":"cancel"`) &&
			regexp.MustCompile(`step \d of 3`).MatchString(rev.Blocks) {
			sawRunning = true
		}
	}
	if !sawRunning {
		t.Errorf("the job message never showed running with its step and a Cancel button; revisions: %+v", card.Revisions)
	}

	// The thread: the live log (with the steps and the last lines) and the
	// notice that mentions Alice; no post per step, no file.
	var notice slackserver.Message
	s.srv.WaitFor(t, 20*time.Second, "the notice at the end", func(srv *slackserver.Server) bool {
		for _, m := range srv.Thread(chHello, card.TS) {
			if strings.HasPrefix(m.Text, "<@U0ALICE> :white_check_mark: #1 succeeded in") {
				notice = m
				return true
			}
		}
		return false
	})
	live, ok := s.liveLog(chHello, card.TS)
	if !ok {
		t.Fatal("no live log in the thread")
	}
	text := live.VisibleText()
	for _, want := range []string{"*Log* of #1", "the job has ended", "✓ 1/3 `echo \"preparing in $(pwd)\"`", "✓ 3/3 `sleep 1.5; ./greet.sh world`", "hello, world (3 of 3)"} {
		if !strings.Contains(text, want) {
			t.Errorf("the live log lacks %q:\n%s", want, text)
		}
	}
	if !strings.HasSuffix(strings.TrimSpace(text), "── step 3/3 succeeded in "+between(text, "── step 3/3 succeeded in ", "\n")+"\n```") {
		t.Errorf("the live log does not end with the job's last line:\n%s", text)
	}
	thread := s.srv.Thread(chHello, card.TS)
	if len(thread) != 3 || thread[1].TS != live.TS || thread[2].TS != notice.TS {
		t.Errorf("the thread has %d messages, want the job message, the live log and the notice:\n%s", len(thread), s.srv.Summary())
	}
	if n := len(s.srv.Files()); n != 0 {
		t.Errorf("%d files uploaded for a build that succeeded", n)
	}

	// The whole log when someone asks for it in the thread.
	s.srv.SendMention(slackserver.Mention{Channel: chHello, User: bob, Text: "logs #1", ThreadTS: card.TS})
	file := s.sharedFile(chHello, card.TS, 20*time.Second)
	if file.Name != "gantry-job-1.log" {
		t.Errorf("file %s shared, want gantry-job-1.log", file.Name)
	}
	for _, want := range []string{"hello from job 1 (hello)", "hello, world (1 of 3)", "hello, world (3 of 3)"} {
		if !strings.Contains(string(file.Content), want) {
			t.Errorf("the uploaded log lacks %q:\n%s", want, file.Content)
		}
	}
}

// between is the text of s after the first before up to the next after.
func between(s, before, after string) string {
	_, rest, ok := strings.Cut(s, before)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, after)
	return v
}

func buttonLabels(m slackserver.Message) string {
	var out []string
	for _, b := range m.Buttons() {
		out = append(out, b.Text)
	}
	return strings.Join(out, ",")
}

func TestSlackRedeliveryRunsOneJobAndReconnects(t *testing.T) {
	s := startSlack(t)
	env := s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chHello})
	again := s.srv.Redeliver(env) // a retry: new envelope, same trigger_id
	same := s.srv.Resend(env)     // the same frame again, as on a second connection
	for _, e := range []slackserver.Envelope{env, again, same} {
		s.srv.WaitAck(t, e.ID, 5*time.Second)
	}
	s.card(chHello, 1, "succeeded", time.Minute)
	mention := s.srv.SendMention(slackserver.Mention{Channel: chHello, User: bob, Text: "status #1"})
	s.srv.Redeliver(mention)
	s.srv.WaitFor(t, 15*time.Second, "the answer to the mention", func(srv *slackserver.Server) bool {
		return len(srv.Ephemerals(bob)) > 0
	})

	s.srv.Disconnect("refresh_requested")
	s.srv.WaitConnection(t, 2, 20*time.Second)
	env2 := s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build hello", UserID: bob, ChannelID: chHello})
	s.srv.WaitAck(t, env2.ID, 5*time.Second)
	s.card(chHello, 2, "succeeded", time.Minute)

	if n := s.cards(chHello, 1); n != 1 {
		t.Errorf("job #1 has %d job messages, want 1", n)
	}
	if n := s.cards(chHello, 3); n != 0 {
		t.Errorf("a third job was started by a redelivery")
	}
	queued := 0
	for _, p := range s.srv.ResponsePosts() {
		if strings.Contains(p.Text, "Queued #") {
			queued++
		}
	}
	if queued != 2 {
		t.Errorf("%d answers say Queued, want 2", queued)
	}
	var answers []string
	for _, e := range s.srv.Ephemerals(bob) {
		if e.Via == "chat.postEphemeral" {
			answers = append(answers, e.Text)
		}
	}
	if len(answers) != 1 || !strings.Contains(answers[0], "#1 build hello@main") {
		t.Errorf("the redelivered mention was answered %d times: %q", len(answers), answers)
	}
}

func TestSlackBuildInAChannelWithoutTheBotIsRefusedAtOnce(t *testing.T) {
	s := startSlack(t)
	s.srv.AddChannel(slackserver.Channel{ID: "C0OUTSIDE", Name: "outside", NotMember: true})
	env := s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build hello", UserID: alice, ChannelID: "C0OUTSIDE"})
	s.srv.WaitAck(t, env.ID, 5*time.Second)
	s.response(alice, "I'm not in this conversation, so nobody here could follow the job")
	// Answers that need no thread still work there.
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "help build", UserID: alice, ChannelID: "C0OUTSIDE"})
	s.response(alice, "usage: build")
	// In the bound channel the same command runs: it was the first job.
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build hello", UserID: alice, ChannelID: chHello})
	s.card(chHello, 1, "succeeded", time.Minute)
}
