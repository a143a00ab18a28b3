package slackserver

import (
	"errors"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func TestRateLimitIsARateLimitedError(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	srv.RateLimit("chat.postMessage", 2, 3*time.Second)
	srv.RateLimit("chat.postMessage", 1, 1500*time.Millisecond) // rounded up to 2 s

	for i, want := range []time.Duration{3 * time.Second, 3 * time.Second, 2 * time.Second} {
		_, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("hi", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != want {
			t.Fatalf("call %d: %v, want a RateLimitedError with RetryAfter %v", i+1, err, want)
		}
	}
	if n := len(srv.Messages("C0BUILDS")); n != 0 {
		t.Fatalf("%d messages posted while rate limited", n)
	}
	if _, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("hi", false)); err != nil {
		t.Fatalf("after the limit: %v", err)
	}
	calls := srv.Calls("chat.postMessage")
	if len(calls) != 4 || calls[0].Status != 429 || calls[0].Error != "ratelimited" || calls[3].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}
	// Other methods are not limited.
	if _, err := api.AuthTest(); err != nil {
		t.Errorf("auth.test: %v", err)
	}
}

func TestRateLimitAfterApplyPostsAnyway(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	srv.RateLimitAfterApply("chat.postMessage", 1, time.Second)
	_, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("#5 queued", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Fatalf("post: %v, want a RateLimitedError", err)
	}
	if h := srv.History("C0BUILDS"); len(h) != 1 || h[0].Text != "#5 queued" {
		t.Fatalf("history = %+v, want the message posted despite the 429", h)
	}
}

func TestFailNext(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	srv.FailNext("chat.update", 1, "internal_error")
	srv.FailNextHTTP("chat.postMessage", 1, 503)

	_, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("x", false))
	var sc slack.StatusCodeError
	if !errors.As(err, &sc) || sc.Code != 503 {
		t.Fatalf("post: %v, want HTTP 503", err)
	}
	_, ts, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("x", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessage("C0BUILDS", ts, slack.MsgOptionText("y", false)); slackError(err) != "internal_error" {
		t.Fatalf("update: %v, want internal_error", err)
	}
	if m, _ := srv.Message("C0BUILDS", ts); m.Text != "x" {
		t.Errorf("failed update changed the message to %q", m.Text)
	}
}

// TestHangNextHoldsTheCallUntilTheClientGivesUp: a hung call gets no
// answer until the client's timeout, the next one is answered, and Close
// does not wait for a call still hanging.
func TestHangNextHoldsTheCallUntilTheClientGivesUp(t *testing.T) {
	srv := New(t)
	srv.HangNext("chat.postMessage", 2)
	impatient := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionHTTPClient(&http.Client{Timeout: 300 * time.Millisecond}))
	_, _, err := impatient.PostMessage("C0BUILDS", slack.MsgOptionText("x", false))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("post: %v, want the client's timeout", err)
	}
	// The second hangs with no timeout at all: Close ends it.
	posted := make(chan error, 1)
	go func() {
		_, _, err := newAPI(srv).PostMessage("C0BUILDS", slack.MsgOptionText("y", false))
		posted <- err
	}()
	srv.WaitFor(t, 5*time.Second, "the second call", func(s *Server) bool { return s.CallCount("chat.postMessage") == 2 })
	if len(srv.History("C0BUILDS")) != 0 {
		t.Error("a hung call posted its message")
	}
	srv.Close()
	if err := <-posted; err == nil {
		t.Error("a call the server never answered succeeded")
	}
}

func TestMinIntervalPerMessage(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	_, a, _ := api.PostMessage("C0BUILDS", slack.MsgOptionText("a", false))
	_, b, _ := api.PostMessage("C0BUILDS", slack.MsgOptionText("b", false))
	if _, ok := srv.MinInterval("chat.update", nil); ok {
		t.Error("MinInterval with no calls reported an interval")
	}
	update := func(ts string) {
		t.Helper()
		if _, _, _, err := api.UpdateMessage("C0BUILDS", ts, slack.MsgOptionText("u", false)); err != nil {
			t.Fatal(err)
		}
	}
	update(a)
	update(b)
	time.Sleep(120 * time.Millisecond)
	update(a)
	update(b)
	perMessage := func(c Call) string { return c.Args.Get("channel") + "/" + c.Args.Get("ts") }
	d, ok := srv.MinInterval("chat.update", perMessage)
	if !ok || d < 120*time.Millisecond {
		t.Errorf("per-message interval = %v %v, want at least 120ms", d, ok)
	}
	if all, _ := srv.MinInterval("chat.update", nil); all >= 120*time.Millisecond {
		t.Errorf("interval over all messages = %v, want less than the per-message one", all)
	}
	if n := srv.CallCount("chat.update"); n != 4 {
		t.Errorf("CallCount = %d", n)
	}
}
