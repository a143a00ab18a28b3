package slackserver

import (
	"errors"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

func post(api *slack.Client, channel string) error {
	_, _, err := api.PostMessage(channel, slack.MsgOptionText("hi", false))
	return err
}

func TestPostsOverOneASecondPerChannelAreRateLimited(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	burst := DefaultLimits()["chat.postMessage"].Burst
	for i := 0; i < burst; i++ {
		if err := post(api, "C0BUSY"); err != nil {
			t.Fatalf("post %d of the burst: %v", i+1, err)
		}
	}
	err := post(api, "C0BUSY")
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Fatalf("a post past the burst: %v, want a 429 with Retry-After 1", err)
	}
	// Other channels have their own budget; the throttled post was not made.
	if err := post(api, "C0QUIET"); err != nil {
		t.Errorf("another channel: %v", err)
	}
	if n := len(srv.Messages("C0BUSY")); n != burst {
		t.Errorf("%d messages in the busy channel, want %d", n, burst)
	}
	// About a second later there is room for one more, not two.
	time.Sleep(1050 * time.Millisecond)
	if err := post(api, "C0BUSY"); err != nil {
		t.Errorf("a second later: %v", err)
	}
	if err := post(api, "C0BUSY"); !errors.As(err, &rl) {
		t.Errorf("two a second later: %v, want a 429", err)
	}
	if n := srv.Throttled("chat.postMessage"); n != 2 {
		t.Errorf("Throttled = %d, want 2", n)
	}
	calls := srv.Calls("chat.postMessage")
	if last := calls[len(calls)-1]; !last.Throttled || last.Status != 429 || last.Error != "ratelimited" {
		t.Errorf("the last call = %+v", last)
	}
}

func TestUpdatesOverTier3AreRateLimited(t *testing.T) {
	srv := New(t, WithRateLimits(map[string]Limit{"chat.update": {PerMinute: 600, Burst: 3}}))
	api := newAPI(srv)
	_, ts, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("#1 queued", false))
	if err != nil {
		t.Fatal(err)
	}
	update := func() error {
		_, _, _, err := api.UpdateMessage("C0BUILDS", ts, slack.MsgOptionText("#1 running", false))
		return err
	}
	for i := 0; i < 3; i++ {
		if err := update(); err != nil {
			t.Fatalf("update %d: %v", i+1, err)
		}
	}
	var rl *slack.RateLimitedError
	if err := update(); !errors.As(err, &rl) {
		t.Fatalf("the 4th update at once: %v, want a 429", err)
	}
	time.Sleep(120 * time.Millisecond) // 600 a minute: one every 100 ms
	if err := update(); err != nil {
		t.Errorf("after 120 ms: %v", err)
	}
	if m, _ := srv.Message("C0BUILDS", ts); len(m.Revisions) != 5 {
		t.Errorf("%d revisions, want the post and 4 updates", len(m.Revisions))
	}
	// The default is Tier 3, for the whole app.
	if l := DefaultLimits()["chat.update"]; l.PerMinute != 50 || l.PerChannel {
		t.Errorf("default chat.update limit = %+v", l)
	}
}

func TestInjectedFaultsCostNoTokenAndLimitsCanBeTurnedOff(t *testing.T) {
	srv := New(t, WithRateLimits(map[string]Limit{"chat.postMessage": {PerMinute: 60, Burst: 1, PerChannel: true}}))
	api := newAPI(srv)
	srv.FailNext("chat.postMessage", 1, "internal_error")
	if err := post(api, "C0BUILDS"); err == nil {
		t.Fatal("the injected fault did not come")
	}
	if err := post(api, "C0BUILDS"); err != nil {
		t.Errorf("the call after a fault that did nothing: %v", err)
	}

	free := New(t, WithoutRateLimits())
	api = newAPI(free)
	for i := 0; i < 20; i++ {
		if err := post(api, "C0BUILDS"); err != nil {
			t.Fatalf("post %d without limits: %v", i+1, err)
		}
	}
}
