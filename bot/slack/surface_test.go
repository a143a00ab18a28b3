package slack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
)

// newTestSurface is a surface on srv with Slack's limits, as gantry keeps
// them; the fake Slack enforces them too.
func newTestSurface(t *testing.T, srv *slackserver.Server, cfg SurfaceConfig) *Surface {
	t.Helper()
	api := goslack.New(slackserver.BotToken, goslack.OptionAPIURL(srv.APIURL()))
	sched := NewScheduler(SchedulerConfig{Backoff: 10 * time.Millisecond, Logger: quiet})
	t.Cleanup(sched.Close)
	cfg.Logger = quiet
	return NewSurface(api, sched, cfg)
}

func TestPostRetriedAfterLateRateLimitIsNotDuplicated(t *testing.T) {
	// The limits are off: the test fills a thread with 450 replies to see
	// the lookup read several pages, which at one post a second takes minutes.
	srv := slackserver.New(t, slackserver.WithoutRateLimits())
	s := newTestSurface(t, srv, SurfaceConfig{})
	ctx := context.Background()
	srv.RateLimitAfterApply("chat.postMessage", 1, time.Second)
	parent, err := s.Post(ctx, "C0BUILDS", "", bot.Message{Text: "#1 build hello: queued"})
	if err != nil {
		t.Fatal(err)
	}
	srv.RateLimitAfterApply("chat.postMessage", 1, time.Second)
	reply, err := s.Post(ctx, "C0BUILDS", parent, bot.Message{Text: "step 1/1 started", Step: true})
	if err != nil {
		t.Fatal(err)
	}
	thread := srv.Thread("C0BUILDS", parent)
	if len(thread) != 2 || thread[1].TS != reply || srv.CallCount("chat.postMessage") != 2 {
		t.Errorf("thread = %+v after %d posts; want the message and one reply, each posted once",
			thread, srv.CallCount("chat.postMessage"))
	}
	if srv.CallCount("conversations.history") != 1 || srv.CallCount("conversations.replies") != 1 {
		t.Errorf("history %d, replies %d: each retried post looks once", srv.CallCount("conversations.history"), srv.CallCount("conversations.replies"))
	}
	// In a long thread the message is found on a later page.
	for i := 0; i < 450; i++ {
		if _, _, err := s.api.PostMessageContext(ctx, "C0BUILDS", goslack.MsgOptionText("filler", false), goslack.MsgOptionTS(parent)); err != nil {
			t.Fatal(err)
		}
	}
	srv.RateLimitAfterApply("chat.postMessage", 1, time.Second)
	if _, err := s.Post(ctx, "C0BUILDS", parent, bot.Message{Text: "late in a long thread"}); err != nil {
		t.Fatal(err)
	}
	late := 0
	for _, m := range srv.Thread("C0BUILDS", parent) {
		if m.Text == "late in a long thread" {
			late++
		}
	}
	if late != 1 || srv.CallCount("conversations.replies") != 4 {
		t.Errorf("posted %d times after reading %d pages of replies, want once after 3 pages", late, srv.CallCount("conversations.replies")-1)
	}
	// A 503 without effect is posted again.
	srv.FailNextHTTP("chat.postMessage", 1, http.StatusServiceUnavailable)
	if _, err := s.Post(ctx, "C0BUILDS", parent, bot.Message{Text: "again"}); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Thread("C0BUILDS", parent)); n != 454 {
		t.Errorf("thread has %d messages after a post that met a 503, want 454", n)
	}
}

func TestUpdateSkipsWhatChangesNothing(t *testing.T) {
	srv := slackserver.New(t)
	s := newTestSurface(t, srv, SurfaceConfig{CardEvery: 10 * time.Millisecond})
	ctx := context.Background()
	j := &jobs.Job{ID: 3, Kind: jobs.Build, Repo: "hello", Ref: "main", Requester: "U0ALICE", State: jobs.Queued}
	now := time.Now()
	ts, err := s.Post(ctx, "C0BUILDS", "", bot.JobMessage(j, now, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, "C0BUILDS", ts, bot.JobMessage(j, now, "")); err != nil {
		t.Fatal(err)
	}
	j.State = jobs.Succeeded
	for i := 0; i < 3; i++ {
		if err := s.Update(ctx, "C0BUILDS", ts, bot.JobMessage(j, now, "")); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.CallCount("chat.update"); n != 1 {
		t.Errorf("%d edits; want 1, for the one change", n)
	}
	m, _ := srv.Message("C0BUILDS", ts)
	if !strings.Contains(m.Text, "succeeded") || len(m.Buttons()) != 2 {
		t.Errorf("message = %q with buttons %+v", m.Text, m.Buttons())
	}
}

func TestUploadSharesTheFileInTheThread(t *testing.T) {
	srv := slackserver.New(t, slackserver.WithFileShareDelay(50*time.Millisecond))
	s := newTestSurface(t, srv, SurfaceConfig{})
	ctx := context.Background()
	parent, err := s.Post(ctx, "C0BUILDS", "", bot.Message{Text: "#1"})
	if err != nil {
		t.Fatal(err)
	}
	srv.RateLimitAfterApply("files.completeUploadExternal", 1, time.Second)
	log := []byte(strings.Repeat("a line of the log\n", 10000))
	if err := s.Upload(ctx, "C0BUILDS", parent, commands.File{Name: "gantry-job-1.log", Title: "Log of #1", Content: log}, ""); err != nil {
		t.Fatal(err)
	}
	srv.WaitFor(t, 5*time.Second, "the shared file", func(srv *slackserver.Server) bool {
		fs := srv.Files()
		return len(fs) == 1 && len(fs[0].Shares) == 1
	})
	f := srv.Files()[0]
	if string(f.Content) != string(log) || f.Title != "Log of #1" || f.Shares[0].ThreadTS != parent {
		t.Errorf("file %s %q, %d bytes, shared %+v", f.Name, f.Title, len(f.Content), f.Shares)
	}
	if err := s.Upload(ctx, "C0BUILDS", parent, commands.File{Name: "empty.log"}, ""); err != nil || len(srv.Files()) != 1 {
		t.Errorf("an empty file: %v, %d files", err, len(srv.Files()))
	}
}

func TestRespondAndEphemeral(t *testing.T) {
	srv := slackserver.New(t)
	s := newTestSurface(t, srv, SurfaceConfig{})
	ctx := context.Background()
	env := srv.SendSlashCommand(slackserver.SlashCommand{UserID: "U0ALICE", ChannelID: "C0BUILDS", Text: "queue"})
	var payload struct {
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal(env.Payload, &payload); err != nil {
		t.Fatal(err)
	}
	if err := s.Respond(ctx, payload.ResponseURL, "Nothing is queued or running.", false); err != nil {
		t.Fatal(err)
	}
	if err := s.Ephemeral(ctx, "C0BUILDS", "U0ALICE", "", "only you see this"); err != nil {
		t.Fatal(err)
	}
	got := srv.Ephemerals("U0ALICE")
	if len(got) != 2 || got[0].Via != slackserver.ResponseURLMethod || got[1].Text != "only you see this" {
		t.Errorf("ephemerals = %+v", got)
	}
	// A response_url that is used up is an error the caller sees.
	for i := 0; i < slackserver.MaxResponseURLUses; i++ {
		_ = s.Respond(ctx, payload.ResponseURL, "again", false)
	}
	if err := s.Respond(ctx, payload.ResponseURL, "once more", false); errorCode(err) != "used_url" {
		t.Errorf("a used-up response_url: %v", err)
	}
}

// Two processes showing one job: an older edit held back by the rate limit
// is rendered again from the record when it is sent, so it cannot put an
// old state over a newer one.
func TestHeldBackCardEditShowsTheNewestState(t *testing.T) {
	srv := slackserver.New(t)
	ctx := context.Background()
	j := &jobs.Job{ID: 4, Kind: jobs.Build, Repo: "hello", Ref: "main", Requester: "U0ALICE", State: jobs.Queued,
		Started: time.Now()}
	var mu sync.Mutex
	record := *j // what Redis holds: the other process moved it on already
	record.State = jobs.Succeeded
	s := newTestSurface(t, srv, SurfaceConfig{CardEvery: 10 * time.Millisecond,
		Refresh: func(ctx context.Context, m bot.Message) (bot.Message, error) {
			mu.Lock()
			defer mu.Unlock()
			r := record
			return bot.JobMessage(&r, time.Now(), ""), nil
		}})
	ts, err := s.Post(ctx, "C0BUILDS", "", bot.JobMessage(j, time.Now(), ""))
	if err != nil {
		t.Fatal(err)
	}
	running := *j
	running.State = jobs.Running
	if err := s.Update(ctx, "C0BUILDS", ts, bot.JobMessage(&running, time.Now(), "")); err != nil {
		t.Fatal(err)
	}
	// An edit of a running job is queued, not waited for.
	srv.WaitCalls(t, "chat.update", 1, 5*time.Second)
	m, _ := srv.Message("C0BUILDS", ts)
	if !strings.Contains(m.Text, "succeeded") || strings.Contains(m.Text, "running") {
		t.Errorf("message = %q, want the record's newest state", m.Text)
	}
}
