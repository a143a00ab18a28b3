package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
)

// Channels bound to the test repos, and the people in them.
const (
	chHello  = "C0BUILDS"
	chSlow   = "C0SLOW"
	chChatty = "C0CHATTY"
	chBusy   = "C0BUSY"
	chTicks  = "C0TICKS"
	chBroken = "C0BROKEN"
	alice    = "U0ALICE"
	bob      = "U0BOB"
	admin    = "U0ADMIN"
)

// slackSession is `gantry serve` running in-process against the fake Slack
// and a real Redis.
type slackSession struct {
	t      *testing.T
	srv    *slackserver.Server
	rdb    *redistest.Server
	env    map[string]string
	errOut *syncBuffer
	main   *mainRun // the first Main started
	// wantExit is the exit code the session's first Main should end with.
	wantExit int
	// tune, when set, adjusts each Main before it runs.
	tune func(*Main)
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

// startSlack runs gantry serve with repos bound to channels: hello (the
// example), slow (a step that sleeps), chatty (a step that prints tens of
// thousands of lines), busy (two short steps that lease a member of a pool
// of two), ticks (a step that prints a line every 0.2 s for 8 s) and broken
// (its second step fails).
func startSlack(t *testing.T, opts ...slackserver.Option) *slackSession {
	t.Helper()
	s := newSlackSession(t, opts...)
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)
	return s
}

// newSlackSession sets up the fake Slack, Redis, the repos and gantry.yml,
// and starts nothing.
func newSlackSession(t *testing.T, opts ...slackserver.Option) *slackSession {
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
	busy := gitRepo(t, filepath.Join(dir, "busy"), map[string]string{
		".gantry.yml": "resources: [db]\npipelines:\n  branch:\n    steps:\n" +
			"      - for i in $(seq 1 20); do echo \"compiling part $i of job $GANTRY_JOB\"; done; sleep 0.8\n" +
			"      - echo \"testing against $GANTRY_RESOURCE_DB\"; sleep 0.8; echo \"last line of job $GANTRY_JOB\"\n",
	})
	ticks := gitRepo(t, filepath.Join(dir, "ticks"), map[string]string{
		".gantry.yml": "pipelines:\n  branch:\n    steps:\n      - for i in $(seq 1 40); do echo \"tick $i\"; sleep 0.2; done; echo \"done after 40 ticks\"\n",
	})
	broken := gitRepo(t, filepath.Join(dir, "broken"), map[string]string{
		".gantry.yml": "pipelines:\n  branch:\n    steps:\n      - echo building\n" +
			"      - 'echo \"--- FAIL: TestRelease <v2>\"; echo \"exit status 3\" >&2; exit 3'\n      - echo never\n",
	})
	cfg := "repos:\n" +
		"  hello: {path: " + hello + ", channel: " + chHello + "}\n" +
		"  slow: {path: " + slow + ", channel: " + chSlow + "}\n" +
		"  chatty: {path: " + chatty + ", channel: " + chChatty + "}\n" +
		"  busy: {path: " + busy + ", channel: " + chBusy + "}\n" +
		"  ticks: {path: " + ticks + ", channel: " + chTicks + "}\n" +
		"  broken: {path: " + broken + ", channel: " + chBroken + "}\n" +
		"pools:\n  db: [db-1, db-2]\n" +
		"workers: 10\n" +
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
	return &slackSession{t: t, srv: srv, rdb: rdb, env: env, errOut: &syncBuffer{}}
}

// addToConfig adds repo (a line of repos:, without its indent) and extra
// (top-level keys) to the session's gantry.yml before gantry starts.
func (s *slackSession) addToConfig(repo, extra string) {
	s.t.Helper()
	cfg, err := os.ReadFile(s.env["GANTRY_CONFIG"])
	if err != nil {
		s.t.Fatal(err)
	}
	more := strings.Replace(string(cfg), "repos:\n", "repos:\n  "+repo+"\n", 1) + extra
	if err := os.WriteFile(s.env["GANTRY_CONFIG"], []byte(more), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

// mainRun is one gantry Main running in-process.
type mainRun struct {
	m      *Main
	args   []string
	cancel context.CancelFunc
	done   chan int // its exit code, put back by whoever reads it
	closed sync.Once
}

// wait waits up to within for the Main to stop by itself.
func (r *mainRun) wait(within time.Duration) (int, bool) {
	select {
	case code := <-r.done:
		r.done <- code
		return code, true
	case <-time.After(within):
		return 0, false
	}
}

// stop ends the Main and waits for it; it returns the exit code.
func (r *mainRun) stop(t *testing.T) int {
	r.cancel()
	code, ok := r.wait(30 * time.Second)
	if !ok {
		t.Errorf("gantry %v did not stop", r.args)
	}
	r.closed.Do(func() { _ = r.m.Close() })
	return code
}

// start runs gantry with args (serve, bot, worker) on the session's Slack
// and Redis until the test ends or it is stopped. The session's exit code
// (wantExit, exit) is its first Main's.
func (s *slackSession) start(args ...string) *mainRun {
	t := s.t
	t.Helper()
	m := &Main{Args: args, Getenv: func(k string) string { return s.env[k] }, Stdin: strings.NewReader(""), Stdout: &syncBuffer{}, Stderr: s.errOut}
	if s.tune != nil {
		s.tune(m)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &mainRun{m: m, args: args, cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- m.Run(ctx) }()
	first := s.main == nil
	if first {
		s.main = r
	}
	t.Cleanup(func() {
		code := r.stop(t)
		if first && code != s.wantExit {
			t.Errorf("gantry %v exited with %d, want %d", args, code, s.wantExit)
		}
		if first && t.Failed() {
			t.Logf("stderr:\n%s", s.errOut)
		}
	})
	return r
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
	code, ok := s.main.wait(within)
	if !ok {
		s.t.Fatalf("gantry did not stop within %v", within)
	}
	return code
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

// TestSlackFailedBuildNotifiesWithTheFailingStepAndItsLog: the one reply at
// the end of a failed job mentions who asked, names the failing step, shows
// its last lines and offers Retry; the whole log is attached.
func TestSlackFailedBuildNotifiesWithTheFailingStepAndItsLog(t *testing.T) {
	s := startSlack(t)
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chBroken})
	card := s.card(chBroken, 1, "failed", time.Minute)
	if !strings.Contains(card.Text, ": failed in step 2 of 3") {
		t.Errorf("the job message does not name the failing step: %s", card.Text)
	}
	file := s.sharedFile(chBroken, card.TS, 20*time.Second)
	if !strings.Contains(string(file.Content), "--- FAIL: TestRelease <v2>") {
		t.Errorf("the attached log lacks the failure:\n%s", file.Content)
	}
	c := s.costs(chBroken, 1)[0]
	text := c.notice.VisibleText()
	for _, want := range []string{"<@U0ALICE> :x: #1 failed in", "step 2 (", ") failed", "--- FAIL: TestRelease &lt;v2&gt;", "exit status 3"} {
		if !strings.Contains(text, want) {
			t.Errorf("the notice lacks %q:\n%s", want, text)
		}
	}
	if got := buttonLabels(c.notice); got != "Retry,Logs" {
		t.Errorf("the notice's buttons = %s, want Retry,Logs", got)
	}
	if c.posts > 3 || c.files != 1 {
		t.Errorf("%d posts and %d files for a failed job, want at most 3 posts and the log", c.posts, c.files)
	}
	// Retry from the notice: a new job, Alice's.
	s.srv.SendBlockAction(slackserver.BlockAction{Channel: chBroken, MessageTS: c.notice.TS, User: alice, ActionID: "retry"})
	s.card(chBroken, 2, "failed", time.Minute)
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

// jobCost is what one job showed and cost in its channel.
type jobCost struct {
	id       int64
	card     slackserver.Message
	posts    int           // the job message and the bot's replies in its thread
	files    int           // files shared in its thread
	lag      time.Duration // from the job's end to its final state showing
	late     time.Duration // how long after the job's end its message was first posted (0: before)
	live     slackserver.Message
	notice   slackserver.Message
	lastLine string // the job's last log line
	who      string // who asked for it
}

// costs reads, for jobs 1..n in channel, what each showed and cost.
func (s *slackSession) costs(channel string, n int) []jobCost {
	t := s.t
	t.Helper()
	store := jobs.NewStore(s.rdb.RDB(), jobs.StoreConfig{})
	log := jobs.NewLog(store, jobs.LogConfig{}, nil)
	ctx := context.Background()
	var out []jobCost
	for id := int64(1); id <= int64(n); id++ {
		j, err := store.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c := jobCost{id: id, who: j.Requester}
		var ok bool
		if c.card, ok = s.srv.Message(channel, j.ThreadTS); !ok {
			t.Fatalf("job #%d has no message", id)
		}
		c.lag = -1
		if len(c.card.Revisions) > 0 {
			c.late = max(0, c.card.Revisions[0].At.Sub(j.Finished))
		}
		for _, rev := range c.card.Revisions {
			if strings.Contains(rev.Text, ": "+string(j.State)) {
				c.lag = rev.At.Sub(j.Finished)
				break
			}
		}
		for _, m := range s.srv.Thread(channel, j.ThreadTS) {
			if !m.FromBot() {
				continue
			}
			if len(m.Files) > 0 {
				c.files++ // a shared file, not a post
				continue
			}
			c.posts++
			switch {
			case strings.HasPrefix(m.Text, "Live log of #") || strings.HasPrefix(m.Text, "Log of #"):
				c.live = m
			case m.TS != c.card.TS:
				c.notice = m
			}
		}
		if tail, err := log.Tail(ctx, id, 1); err == nil && len(tail) == 1 {
			c.lastLine = tail[0]
		}
		out = append(out, c)
	}
	return out
}

// TestTenJobsInOneChannelStayWithinBudget starts ten builds at once in one
// channel, two at a time through a pool of two: every job costs at most
// three posts (its message, its live log, the notice at its end) plus
// edits, its final state shows within 3 s of its end, its live log ends
// with its last line, and nothing that shows its end mentions the wait.
func TestTenJobsInOneChannelStayWithinBudget(t *testing.T) {
	s := startSlack(t)
	const n = 10
	start := time.Now()
	for i := 0; i < n; i++ {
		s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: fmt.Sprintf("U0DEV%02d", i), ChannelID: chBusy})
	}
	for i := 1; i <= n; i++ {
		s.card(chBusy, i, "succeeded", 2*time.Minute)
	}
	jobsDone := time.Since(start)
	// The posts of ten jobs take about thirty seconds at one a second.
	s.srv.WaitFor(t, 2*time.Minute, "every live log ended and every notice posted", func(srv *slackserver.Server) bool {
		ended := 0
		for _, m := range srv.Messages(chBusy) {
			if strings.HasPrefix(m.Text, "Log of #") || strings.Contains(m.Text, ":white_check_mark: #") {
				ended++
			}
		}
		return ended == 2*n
	})
	waited := false
	var lags []time.Duration
	for _, c := range s.costs(chBusy, n) {
		lags = append(lags, c.lag)
		if c.posts > 3 || c.files > 0 {
			t.Errorf("job #%d posted %d messages and %d files, want at most 3 messages and no file", c.id, c.posts, c.files)
		}
		// A job whose message could only be posted after it ended (Slack
		// takes one post a second in a channel, and a busy machine can run
		// the jobs faster than their messages go out) shows its end in that
		// first post; any other job within 3 s of its end.
		switch {
		case c.late > 0 && (c.lag < 0 || c.lag > c.late):
			t.Errorf("job #%d's message was first posted %v after the job's end without its final state (shown after %v)", c.id, c.late, c.lag)
		case c.late == 0 && (c.lag < 0 || c.lag > 3*time.Second):
			t.Errorf("job #%d's final state showed %v after its end, want within 3s", c.id, c.lag)
		}
		code := c.live.VisibleText()
		if c.lastLine == "" || !strings.Contains(code, escapeSlack(c.lastLine)+"\n```") || !strings.Contains(code, "the job has ended") {
			t.Errorf("job #%d's live log does not end with its last line %q:\n%s", c.id, c.lastLine, code)
		}
		if !strings.Contains(code, fmt.Sprintf("last line of job %d", c.id)) {
			t.Errorf("job #%d's live log lacks its output:\n%s", c.id, code)
		}
		for _, text := range []string{c.card.VisibleText(), c.card.Text, c.notice.Text, c.notice.VisibleText()} {
			if strings.Contains(text, "waiting") || strings.Contains(text, "in line") {
				t.Errorf("job #%d's end mentions the wait: %s", c.id, text)
			}
		}
		if !strings.HasPrefix(c.notice.Text, fmt.Sprintf("<@%s> :white_check_mark: #%d succeeded in", c.who, c.id)) {
			t.Errorf("job #%d's notice = %q", c.id, c.notice.Text)
		}
	}
	// Some jobs waited for a pool member (a busy machine may coalesce the
	// edits that showed it, so the record's events say so).
	events, err := jobs.NewStore(s.rdb.RDB(), jobs.StoreConfig{}).ReadEvents(context.Background(), "0", 100000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		waited = waited || (e.State == jobs.Waiting && strings.Contains(e.Text.String(), "waiting for db"))
	}
	if !waited {
		t.Errorf("no job waited for the pool; the test did not test the wait (%d events)", len(events))
		for _, e := range events {
			t.Logf("%d %s %s %s", e.Job, e.Type, e.State, e.Text)
		}
	}
	if n := s.srv.Throttled(""); n != 0 {
		t.Errorf("gantry went over Slack's limits %d times", n)
	}
	slices.Sort(lags)
	t.Logf("jobs done after %v; lag from a job's end to its final state: min %v, median %v, max %v; calls: postMessage %d, update %d",
		jobsDone.Round(time.Millisecond), lags[0], lags[len(lags)/2], lags[len(lags)-1], s.srv.CallCount("chat.postMessage"), s.srv.CallCount("chat.update"))
}

// escapeSlack is text as Slack markup shows it.
func escapeSlack(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// TestSlackLiveLogResumesAfterTheBotRestarts stops gantry while a job runs
// and starts another on the same Redis and Slack: the new one edits the same
// live-log message from where the old one stopped, and it ends with the
// job's last lines. With a worker of its own the job runs on while the bot
// restarts; with serve the stopping worker hands the job back and the new
// one runs it again.
func TestSlackLiveLogResumesAfterTheBotRestarts(t *testing.T) {
	t.Run("bot", func(t *testing.T) { liveLogAcrossRestart(t, "bot") })
	t.Run("serve", func(t *testing.T) { liveLogAcrossRestart(t, "serve") })
}

func liveLogAcrossRestart(t *testing.T, mode string) {
	s := newSlackSession(t)
	if mode == "bot" {
		s.start("worker")
	}
	first := s.start(mode)
	s.srv.WaitConnection(t, 1, 20*time.Second)
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chTicks})
	card := s.card(chTicks, 1, "running", 30*time.Second)
	s.srv.WaitFor(t, 20*time.Second, "the live log showing tick 5", func(*slackserver.Server) bool {
		m, ok := s.liveLog(chTicks, card.TS)
		return ok && strings.Contains(m.VisibleText(), "tick 5\n")
	})
	if code := first.stop(t); code != 0 {
		t.Fatalf("the first bot exited with %d", code)
	}
	stopped := time.Now()
	time.Sleep(time.Second) // the job prints on while no bot shows it
	s.start(mode)
	s.srv.WaitConnection(t, 2, 20*time.Second)
	s.card(chTicks, 1, "succeeded", 30*time.Second)
	s.srv.WaitFor(t, 30*time.Second, "the live log's last edit and the notice", func(srv *slackserver.Server) bool {
		m, ok := s.liveLog(chTicks, card.TS)
		return ok && strings.HasPrefix(m.Text, "Log of #1") && len(srv.Thread(chTicks, card.TS)) == 3
	})

	c := s.costs(chTicks, 1)[0]
	if c.posts != 3 {
		t.Errorf("the job's thread has %d messages from gantry, want its message, one live log and the notice:\n%s", c.posts, s.srv.Summary())
	}
	text := c.live.VisibleText()
	store := jobs.NewStore(s.rdb.RDB(), jobs.StoreConfig{})
	all, err := jobs.NewLog(store, jobs.LogConfig{}, nil).All(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Count(string(all), "\n")
	for _, want := range []string{"done after 40 ticks\n", escapeSlack(c.lastLine) + "\n```", fmt.Sprintf("of %d lines · the job has ended", lines)} {
		if !strings.Contains(text, want) {
			t.Errorf("the live log lacks %q:\n%s", want, text)
		}
	}
	before, after := 0, 0
	for _, rev := range c.live.Revisions {
		if rev.At.Before(stopped) {
			before++
		} else {
			after++
		}
	}
	if before == 0 || after == 0 {
		t.Errorf("the live log was shown %d times before the restart and %d after; want both", before, after)
	}
}
