package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// TestSlackRateLimitsDelayCallsAndLoseNothing makes Slack answer 429: edits
// wait out Retry-After, posts that went through before the 429 are not
// posted again, and the thread ends up whole.
func TestSlackRateLimitsDelayCallsAndLoseNothing(t *testing.T) {
	s := startSlack(t)
	s.srv.RateLimit("chat.update", 2, time.Second)
	s.srv.RateLimitAfterApply("chat.postMessage", 3, time.Second)
	s.srv.FailNextHTTP("chat.postMessage", 1, http.StatusServiceUnavailable)
	s.srv.SendMention(slackserver.Mention{Channel: chHello, User: alice, Text: "build"})
	card := s.card(chHello, 1, "succeeded", time.Minute)
	s.srv.WaitFor(t, 30*time.Second, "the notice at the end", func(srv *slackserver.Server) bool {
		for _, m := range srv.Thread(chHello, card.TS) {
			if strings.HasPrefix(m.Text, "<@U0ALICE> :white_check_mark: #1 succeeded") {
				return true
			}
		}
		return false
	})

	// Every message once: the 429s came after Slack had posted.
	seen := map[string]int{}
	for _, m := range s.srv.Messages(chHello) {
		if m.FromBot() && m.Text != "" {
			seen[m.Text]++
		}
	}
	for text, n := range seen {
		if n > 1 {
			t.Errorf("posted %d times: %q", n, text)
		}
	}
	if n := s.cards(chHello, 1); n != 1 {
		t.Errorf("job #1 has %d messages", n)
	}
	if s.srv.CallCount("conversations.history")+s.srv.CallCount("conversations.replies") == 0 {
		t.Error("no retried post looked for its earlier try")
	}
	// Retry-After was honoured: each try after a 429 came a second later.
	calls := s.srv.Calls("chat.update")
	for i := 1; i < len(calls); i++ {
		if calls[i-1].Status == http.StatusTooManyRequests {
			if d := calls[i].At.Sub(calls[i-1].At); d < 950*time.Millisecond {
				t.Errorf("chat.update was called again %v after a 429 with Retry-After: 1", d)
			}
		}
	}
	limited := 0
	for _, c := range calls {
		if c.Status == http.StatusTooManyRequests && !c.Throttled {
			limited++
		}
	}
	if limited != 2 {
		t.Errorf("%d chat.update calls met the injected 429, want 2", limited)
	}
	if n := s.srv.Throttled(""); n != 0 {
		t.Errorf("gantry went over Slack's limits %d times", n)
	}
	// The job message shows the end, with the buttons of a finished job.
	if got := buttonLabels(card); got != "Retry,Logs" {
		t.Errorf("buttons = %s", got)
	}
}

// TestSlackChattyJobKeepsTheEditRate runs a step that prints 48,000 lines
// in 8 s: the live log is edited at most once every 2 s, the job message at
// most once a second, and the log uploaded on request has every line.
func TestSlackChattyJobKeepsTheEditRate(t *testing.T) {
	s := startSlack(t)
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chChatty})
	card := s.card(chChatty, 1, "succeeded", time.Minute)
	s.srv.SendMention(slackserver.Mention{Channel: chChatty, User: alice, Text: "logs #1", ThreadTS: card.TS})
	file := s.sharedFile(chChatty, card.TS, 30*time.Second)
	content := string(file.Content)
	for _, want := range []string{"line 1\n", "line 24000\n", "line 48000\n"} {
		if !strings.Contains(content, want) {
			t.Errorf("the uploaded log lacks %q", want)
		}
	}
	if n := strings.Count(content, "\nline "); n != 48000 {
		t.Errorf("the uploaded log has %d lines of output, want 48000", n)
	}

	s.srv.WaitFor(t, 30*time.Second, "the live log's last edit", func(*slackserver.Server) bool {
		m, ok := s.liveLog(chChatty, card.TS)
		return ok && strings.HasPrefix(m.Text, "Log of #1")
	})
	m, _ := s.liveLog(chChatty, card.TS)
	live := m.TS
	if !strings.Contains(m.VisibleText(), "line 48000\n── step 1/1 succeeded in ") {
		t.Errorf("the live log does not end with the last line:\n%s", m.VisibleText())
	}
	byMessage := func(ts string) func(slackserver.Call) string {
		n := 0
		return func(c slackserver.Call) string {
			if c.Args.Get("ts") == ts {
				return ts
			}
			n++
			return fmt.Sprint("other ", n) // never paired
		}
	}
	if d, ok := s.srv.MinInterval("chat.update", byMessage(live)); !ok || d < 1950*time.Millisecond {
		t.Errorf("live log edits %v apart (found %v), want at least 2s", d, ok)
	}
	if d, ok := s.srv.MinInterval("chat.update", byMessage(card.TS)); ok && d < 950*time.Millisecond {
		t.Errorf("job message edits %v apart, want at least 1s", d)
	}
	edits := 0
	for _, c := range s.srv.Calls("chat.update") {
		if c.Args.Get("ts") == live {
			edits++
		}
	}
	// The step runs about 8 s: one post and an edit every 2 s, and the last.
	if edits > 7 {
		t.Errorf("the live log was edited %d times for an 8 s step", edits)
	}
	t.Logf("live log: %d edits; all calls: postMessage %d, update %d", edits, s.srv.CallCount("chat.postMessage"), s.srv.CallCount("chat.update"))
}
