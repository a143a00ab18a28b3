package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
)

// TestSlackButtonsAndReactionsActOnTheRightJob walks through Cancel and
// Retry buttons and the ❌ and 🔁 reactions, by people who may and may not.
func TestSlackButtonsAndReactionsActOnTheRightJob(t *testing.T) {
	s := startSlack(t)
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chSlow})
	one := s.card(chSlow, 1, "running", 30*time.Second)
	if got := buttonLabels(one); got != "Cancel" {
		t.Errorf("buttons of a running job = %s, want Cancel", got)
	}
	s.srv.WaitMessage(t, chSlow, 20*time.Second, func(m slackserver.Message) bool {
		return m.ThreadTS == one.TS && strings.Contains(m.VisibleText(), "\nsleeping\n")
	})

	// Bob may not cancel Alice's build, by button or by reaction.
	s.srv.SendBlockAction(slackserver.BlockAction{Channel: chSlow, MessageTS: one.TS, User: bob, ActionID: "cancel"})
	s.response(bob, "you may not cancel #1; who may: the requester <@U0ALICE>, admins")
	s.srv.SendReaction(slackserver.ReactionAdded{Channel: chSlow, TS: one.TS, User: bob, Name: "x"})
	s.ephemeral(bob, "you may not cancel #1")
	// A reaction gantry does not act on, and one on a message that is no job's.
	s.srv.SendReaction(slackserver.ReactionAdded{Channel: chSlow, TS: one.TS, User: bob, Name: "thumbsup"})
	other := s.srv.SendMessage(slackserver.UserMessage{Channel: chSlow, User: bob, Text: "lunch?"})
	s.srv.SendReaction(slackserver.ReactionAdded{Channel: chSlow, TS: other.MessageTS, User: alice, Name: "x"})

	// Alice may.
	s.srv.SendBlockAction(slackserver.BlockAction{Channel: chSlow, MessageTS: one.TS, User: alice, ActionID: "cancel"})
	s.response(alice, "Stopping #1…")
	one = s.card(chSlow, 1, "cancelled", 30*time.Second)
	if !strings.Contains(one.VisibleText(), "cancelled by <@U0ALICE>") {
		t.Errorf("job #1 does not say who cancelled it: %s", one.VisibleText())
	}
	if got := buttonLabels(one); got != "Retry,Logs" {
		t.Errorf("buttons of a cancelled job = %s, want Retry,Logs", got)
	}

	// Anyone may retry a build: it becomes Bob's request.
	s.srv.SendBlockAction(slackserver.BlockAction{Channel: chSlow, MessageTS: one.TS, User: bob, ActionID: "retry"})
	s.response(bob, "Retrying #1 as #2")
	two := s.card(chSlow, 2, "running", 30*time.Second)
	if !strings.Contains(two.Text, "by <@U0BOB>") {
		t.Errorf("the retry is not Bob's: %s", two.Text)
	}
	// 🔁 on #1 again, by Alice: a third job.
	s.srv.SendReaction(slackserver.ReactionAdded{Channel: chSlow, TS: one.TS, User: alice, Name: "repeat"})
	s.ephemeral(alice, "Retrying #1 as #3")
	three := s.card(chSlow, 3, "running", 30*time.Second)

	// An admin may cancel Bob's job; Alice cancels her own with ❌.
	s.srv.SendReaction(slackserver.ReactionAdded{Channel: chSlow, TS: two.TS, User: admin, Name: "x"})
	s.srv.SendReaction(slackserver.ReactionAdded{Channel: chSlow, TS: three.TS, User: alice, Name: "x"})
	s.card(chSlow, 2, "cancelled", 30*time.Second)
	s.card(chSlow, 3, "cancelled", 30*time.Second)

	// The Logs button answers the person alone with the last lines.
	s.srv.SendBlockAction(slackserver.BlockAction{Channel: chSlow, MessageTS: one.TS, User: bob, ActionID: "logs"})
	s.response(bob, "sleeping")

	if n := s.cards(chSlow, 4); n != 0 {
		t.Error("a fourth job was started")
	}
	for _, e := range s.srv.Ephemerals(alice) {
		if strings.Contains(e.Text, "lunch") || strings.Contains(e.Text, "no job") {
			t.Errorf("a reaction on a message that is no job's was answered: %q", e.Text)
		}
	}
	if one, _ := s.srv.Message(chSlow, s.card(chSlow, 1, "cancelled", time.Second).TS); len(one.Revisions) == 0 {
		t.Error("job #1's message has no history")
	}
}

// TestSlackMentionsDirectMessagesAndIgnoredEvents checks where answers go,
// and that gantry's own messages and edits are not taken as requests.
func TestSlackMentionsDirectMessagesAndIgnoredEvents(t *testing.T) {
	s := startSlack(t)
	// A mention in the bound channel: answered in a thread under it.
	m := s.srv.SendMention(slackserver.Mention{Channel: chHello, User: alice, Text: "build"})
	s.srv.WaitMessage(t, chHello, 15*time.Second, func(msg slackserver.Message) bool {
		return msg.FromBot() && msg.ThreadTS == m.MessageTS && strings.HasPrefix(msg.Text, "Queued #1: build hello@main")
	})
	// A mention gantry does not understand: the usage, to the person alone.
	s.srv.SendMention(slackserver.Mention{Channel: chHello, User: bob, Text: "biuld"})
	s.ephemeral(bob, "Did you mean “build”?")
	s.srv.SendMention(slackserver.Mention{Channel: chHello, User: bob, Text: "frobnicate<!channel>"})
	if e := s.ephemeral(bob, "I don't know"); strings.Contains(e.Text, "<!channel>") {
		t.Errorf("the person's words were not escaped: %q", e.Text)
	}
	// A bare slash command: help.
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "", UserID: bob, ChannelID: chHello})
	s.response(bob, "gantry commands")

	// A direct message: answered in the conversation. Its own messages,
	// edits and other bots are ignored.
	const dm = "D0ALICE"
	s.srv.SendMessage(slackserver.UserMessage{Channel: dm, User: slackserver.BotUserID, BotID: slackserver.BotID, Text: "help"})
	s.srv.SendMessage(slackserver.UserMessage{Channel: dm, User: "U0OTHERBOT", BotID: "B0OTHER", Text: "help"})
	s.srv.SendEvent(map[string]any{
		"type": "message", "subtype": "message_changed", "channel": dm, "channel_type": "im", "hidden": true,
		"message": map[string]any{"type": "message", "user": alice, "text": "help", "ts": "1.000001"},
	})
	s.srv.SendMessage(slackserver.UserMessage{Channel: dm, User: alice, Text: "help retry"})
	s.srv.WaitMessage(t, dm, 15*time.Second, func(msg slackserver.Message) bool {
		return msg.FromBot() && strings.Contains(msg.Text, "usage: retry JOB")
	})
	s.card(chHello, 1, "succeeded", time.Minute)
	var fromBot int
	for _, msg := range s.srv.Messages(dm) {
		if msg.User == slackserver.BotUserID && msg.Text != "help" {
			fromBot++
		}
	}
	if fromBot != 1 {
		t.Errorf("gantry answered %d times in the direct message, want once:\n%s", fromBot, s.srv.Summary())
	}
}

// TestSlackBadTokensStopStartUp checks the one line that names the setting.
func TestSlackBadTokensStopStartUp(t *testing.T) {
	srv := slackserver.New(t)
	rdb := redistest.Start(t)
	for _, tc := range []struct {
		app, bot, want string
	}{
		{slackserver.AppToken, "xoxb-wrong", "gantry: SLACK_BOT_TOKEN: Slack refused it (invalid_auth)"},
		{"xapp-wrong", slackserver.BotToken, "gantry: SLACK_APP_TOKEN: Slack refused it (invalid_auth)"},
		{slackserver.BotToken, slackserver.BotToken, "gantry: SLACK_APP_TOKEN: is not an app-level token"},
		{"", slackserver.BotToken, "gantry: SLACK_APP_TOKEN: is not set"},
		{slackserver.AppToken, "", "gantry: SLACK_BOT_TOKEN: is not set"},
	} {
		env := map[string]string{
			"SLACK_APP_TOKEN": tc.app, "SLACK_BOT_TOKEN": tc.bot, "SLACK_API_URL": srv.APIURL(),
			"REDIS_URL": rdb.URL(), "GANTRY_HTTP_ADDR": "127.0.0.1:0",
		}
		errOut := &syncBuffer{}
		m := &Main{Args: []string{"serve"}, Getenv: func(k string) string { return env[k] }, Stdout: &syncBuffer{}, Stderr: errOut}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		start := time.Now()
		code := m.Run(ctx)
		cancel()
		_ = m.Close()
		lines := strings.Split(strings.TrimSpace(errOut.String()), "\n")
		if code != 1 || len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
			t.Errorf("app %q, bot %q: exit %d, stderr:\n%s\nwant one line starting %q", tc.app, tc.bot, code, errOut, tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("app %q, bot %q: start-up took %v to fail", tc.app, tc.bot, d)
		}
	}
}

// TestSlackRevokedTokensStopTheProcess: a token Slack stops accepting while
// gantry runs ends the process with the setting's name.
func TestSlackRevokedTokensStopTheProcess(t *testing.T) {
	t.Run("bot token", func(t *testing.T) {
		s := startSlack(t)
		s.wantExit = 1
		s.srv.FailNext("chat.postMessage", 1, "token_revoked")
		s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "build", UserID: alice, ChannelID: chHello})
		s.exit(20 * time.Second)
		if !strings.Contains(s.errOut.String(), "gantry: SLACK_BOT_TOKEN: Slack refused it (token_revoked)") {
			t.Errorf("stderr does not name the setting:\n%s", s.errOut)
		}
	})
	t.Run("app token", func(t *testing.T) {
		s := startSlack(t)
		s.wantExit = 1
		s.srv.FailNext("apps.connections.open", 1, "token_revoked")
		s.srv.Disconnect("refresh_requested")
		s.exit(20 * time.Second)
		if !strings.Contains(s.errOut.String(), "gantry: SLACK_APP_TOKEN: Slack refused it (token_revoked)") {
			t.Errorf("stderr does not name the setting:\n%s", s.errOut)
		}
	})
}
