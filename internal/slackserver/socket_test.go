package slackserver

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

func TestSlashCommandIsDeliveredAndAcked(t *testing.T) {
	srv := New(t)
	c := startSocketMode(t, srv)
	c.next(socketmode.EventTypeHello)
	srv.WaitConnection(t, 1, waitLong)

	env := srv.SendSlashCommand(SlashCommand{
		Text: "build api@feature-x", UserID: "U0ALICE", UserName: "alice", ChannelID: "C0BUILDS", ChannelName: "builds",
	})
	ev := c.next(socketmode.EventTypeSlashCommand)
	cmd, ok := ev.Data.(slack.SlashCommand)
	if !ok {
		t.Fatalf("slash command event data is %T", ev.Data)
	}
	if cmd.Command != "/gantry" || cmd.Text != "build api@feature-x" || cmd.UserID != "U0ALICE" ||
		cmd.UserName != "alice" || cmd.ChannelID != "C0BUILDS" || cmd.ChannelName != "builds" || cmd.TeamID != TeamID {
		t.Errorf("slash command = %+v", cmd)
	}
	if cmd.TriggerID == "" || cmd.TriggerID != env.TriggerID() {
		t.Errorf("trigger_id = %q, envelope says %q", cmd.TriggerID, env.TriggerID())
	}
	if !strings.HasPrefix(cmd.ResponseURL, srv.URL()+"/response/") {
		t.Errorf("response_url = %q, want one on the server", cmd.ResponseURL)
	}
	if ev.Request.EnvelopeID != env.ID || !ev.Request.AcceptsResponsePayload {
		t.Errorf("request = %+v, want envelope %s accepting a response payload", ev.Request, env.ID)
	}

	c.ack(ev)
	ack := srv.WaitAck(t, env.ID, waitLong)
	if ack.Payload != nil || ack.Size == 0 || ack.Conn != 1 || ack.Dropped {
		t.Errorf("ack = %+v, want an empty payload on connection 1", ack)
	}
	got := srv.Envelopes()
	if len(got) != 1 || got[0].Delivered.IsZero() || ack.At.Before(got[0].Delivered) {
		t.Errorf("envelopes = %+v, ack at %v", got, ack.At)
	}
	// The user and channel are known to users.info and conversations.info.
	u, err := newAPI(srv).GetUserInfo("U0ALICE")
	if err != nil || u.Name != "alice" {
		t.Errorf("users.info U0ALICE = %+v, %v", u, err)
	}
}

func TestEventsReachTheClientAsSlackGoTypes(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	c := startSocketMode(t, srv)
	srv.WaitConnection(t, 1, waitLong)

	// A mention, answered in a thread under it.
	env := srv.SendMention(Mention{Channel: "C0BUILDS", User: "U0ALICE", Text: "deploy staging"})
	ev := c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev)
	outer := ev.Data.(slackevents.EventsAPIEvent)
	mention, ok := outer.InnerEvent.Data.(*slackevents.AppMentionEvent)
	if !ok {
		t.Fatalf("inner event is %T", outer.InnerEvent.Data)
	}
	if mention.Text != "<@"+BotUserID+"> deploy staging" || mention.User != "U0ALICE" ||
		mention.Channel != "C0BUILDS" || mention.TimeStamp != env.MessageTS {
		t.Errorf("app_mention = %+v", mention)
	}
	cb := outer.Data.(*slackevents.EventsAPICallbackEvent)
	if cb.EventID == "" || cb.EventID != env.EventID() {
		t.Errorf("event_id = %q, envelope says %q", cb.EventID, env.EventID())
	}
	if _, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("on it", false), slack.MsgOptionTS(mention.TimeStamp)); err != nil {
		t.Fatal(err)
	}
	thread := srv.Thread("C0BUILDS", env.MessageTS)
	if len(thread) != 2 || thread[0].User != "U0ALICE" || thread[1].Text != "on it" || !thread[1].FromBot() {
		t.Errorf("thread = %+v", thread)
	}

	// A direct message.
	srv.SendMessage(UserMessage{Channel: "D0ALICE", User: "U0ALICE", Text: "help"})
	ev = c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev)
	msg, ok := ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.MessageEvent)
	if !ok || msg.ChannelType != "im" || msg.Text != "help" || msg.Channel != "D0ALICE" || msg.BotID != "" {
		t.Errorf("message event = %+v", msg)
	}

	// The bot's own message comes back with its bot id.
	srv.SendMessage(UserMessage{Channel: "C0BUILDS", User: BotUserID, Text: "echo", BotID: BotID})
	ev = c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev)
	msg = ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.MessageEvent)
	if msg.BotID != BotID || msg.ChannelType != "channel" {
		t.Errorf("bot message event = %+v", msg)
	}

	// A reaction on the bot's reply.
	srv.SendReaction(ReactionAdded{Channel: "C0BUILDS", TS: thread[1].TS, User: "U0ALICE", Name: "repeat"})
	ev = c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev)
	re, ok := ev.Data.(slackevents.EventsAPIEvent).InnerEvent.Data.(*slackevents.ReactionAddedEvent)
	if !ok || re.Reaction != "repeat" || re.Item.Type != "message" || re.Item.Channel != "C0BUILDS" ||
		re.Item.Timestamp != thread[1].TS || re.ItemUser != BotUserID || re.User != "U0ALICE" {
		t.Errorf("reaction_added = %+v", re)
	}
	if m, _ := srv.Message("C0BUILDS", thread[1].TS); len(m.Reactions) != 1 || m.Reactions[0] != (Reaction{Name: "repeat", User: "U0ALICE"}) {
		t.Errorf("reactions on the reply = %+v", m.Reactions)
	}
}

func TestBlockActionCarriesTheButtonAndMessage(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	c := startSocketMode(t, srv)
	srv.WaitConnection(t, 1, waitLong)

	approve := slack.NewButtonBlockElement("approve", "42", slack.NewTextBlockObject("plain_text", "Approve", false, false))
	reject := slack.NewButtonBlockElement("reject", "42", slack.NewTextBlockObject("plain_text", "Reject", false, false))
	_, ts, err := api.PostMessage("C0DEPLOY", slack.MsgOptionText("deploy #42 needs approval", false), slack.MsgOptionBlocks(
		slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*#42* deploy to production", false, false), nil, nil),
		slack.NewActionBlock("approval-42", approve, reject),
	))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := srv.Message("C0DEPLOY", ts)
	if b := m.Buttons(); len(b) != 2 || b[0].Text != "Approve" || b[1].ActionID != "reject" || b[0].BlockID != "approval-42" {
		t.Errorf("buttons = %+v", b)
	}

	env := srv.SendBlockAction(BlockAction{Channel: "C0DEPLOY", MessageTS: ts, User: "U0BOB", UserName: "bob", ActionID: "approve"})
	ev := c.next(socketmode.EventTypeInteractive)
	c.ack(ev)
	cb, ok := ev.Data.(slack.InteractionCallback)
	if !ok {
		t.Fatalf("interactive event data is %T", ev.Data)
	}
	if cb.Type != slack.InteractionTypeBlockActions || cb.User.ID != "U0BOB" || cb.User.Name != "bob" ||
		cb.Channel.ID != "C0DEPLOY" || cb.Container.MessageTs != ts || cb.Container.ChannelID != "C0DEPLOY" ||
		cb.TriggerID != env.TriggerID() || cb.ResponseURL == "" {
		t.Errorf("callback = %+v", cb)
	}
	if len(cb.ActionCallback.BlockActions) != 1 {
		t.Fatalf("actions = %+v", cb.ActionCallback)
	}
	act := cb.ActionCallback.BlockActions[0]
	if act.ActionID != "approve" || act.BlockID != "approval-42" || act.Value != "42" || act.Text.Text != "Approve" {
		t.Errorf("action = %+v", act)
	}
	if cb.Message.Timestamp != ts || len(cb.Message.Blocks.BlockSet) != 2 || cb.Message.BotID != BotID {
		t.Errorf("message in callback = %+v", cb.Message.Msg)
	}

	// Answering through the response_url replaces the message.
	_, _, err = api.PostMessage("", slack.MsgOptionReplaceOriginal(cb.ResponseURL), slack.MsgOptionText("approved by <@U0BOB>", false))
	if err != nil {
		t.Fatalf("post to response_url: %v", err)
	}
	m, _ = srv.Message("C0DEPLOY", ts)
	if m.Text != "approved by <@U0BOB>" || len(m.Buttons()) != 0 || !m.Edited() {
		t.Errorf("message after replace_original = %+v", m)
	}
	if posts := srv.ResponsePosts(); len(posts) != 1 || !posts[0].ReplaceOriginal || posts[0].Kind != TypeInteractive || posts[0].Error != "" {
		t.Errorf("response posts = %+v", posts)
	}
}

func TestSlashCommandResponseURLPostsAnEphemeral(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	env := srv.SendSlashCommand(SlashCommand{UserID: "U0ALICE", ChannelID: "C0BUILDS", Text: "help"})
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		t.Fatal(err)
	}
	_, _, err := api.PostMessage("", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("usage: ...", false))
	if err != nil {
		t.Fatal(err)
	}
	e := srv.Ephemerals("U0ALICE")
	if len(e) != 1 || e[0].Text != "usage: ..." || e[0].Channel != "C0BUILDS" || e[0].Via != ResponseURLMethod {
		t.Errorf("ephemerals = %+v", e)
	}
	_, _, err = api.PostMessage("", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeInChannel), slack.MsgOptionText("queued #1", false))
	if err != nil {
		t.Fatal(err)
	}
	if h := srv.History("C0BUILDS"); len(h) != 1 || h[0].Text != "queued #1" || !h[0].FromBot() {
		t.Errorf("history = %+v", h)
	}
}

func TestDisconnectMakesTheClientReconnect(t *testing.T) {
	srv := New(t)
	c := startSocketMode(t, srv)
	c.drain()
	srv.WaitConnection(t, 1, waitLong)

	if n := srv.Disconnect(""); n != 1 {
		t.Fatalf("Disconnect closed %d connections, want 1", n)
	}
	srv.WaitConnection(t, 2, waitLong)
	if got := srv.CallCount("apps.connections.open"); got != 2 {
		t.Errorf("apps.connections.open called %d times, want 2 (a URL works once)", got)
	}
	if n := srv.DropConnection(); n != 1 {
		t.Fatalf("DropConnection closed %d connections, want 1", n)
	}
	srv.WaitConnection(t, 3, waitLong)
	select {
	case err := <-c.done:
		t.Fatalf("RunContext returned %v after a disconnect", err)
	default:
	}
}

func TestEnvelopesFlowOnTheNewConnection(t *testing.T) {
	srv := New(t)
	c := startSocketMode(t, srv)
	srv.WaitConnection(t, 1, waitLong)
	srv.Disconnect("refresh_requested")
	srv.WaitConnection(t, 2, waitLong)

	env := srv.SendSlashCommand(SlashCommand{Text: "queue"})
	ev := c.next(socketmode.EventTypeSlashCommand)
	c.ack(ev)
	if a := srv.WaitAck(t, env.ID, waitLong); a.Conn != 2 {
		t.Errorf("ack came on connection %d, want 2", a.Conn)
	}
}

// TestReconnectFailures records how slack-go v0.35.0 behaves when
// reconnecting fails: it retries transient failures (Slack errors, 429s,
// HTTP 5xx) with backoff, honouring Retry-After, and RunContext returns only
// on invalid_auth (and account_inactive, not_authed, token_revoked, HTTP 404)
// or when its context ends.
func TestReconnectFailures(t *testing.T) {
	srv := New(t)
	c := startSocketMode(t, srv)
	c.drain()
	srv.WaitConnection(t, 1, waitLong)

	srv.FailNext("apps.connections.open", 1, "internal_error")
	srv.FailNextHTTP("apps.connections.open", 1, 503)
	srv.RateLimit("apps.connections.open", 1, time.Second)
	srv.DropConnection()
	srv.WaitConnection(t, 2, waitLong)
	calls := srv.Calls("apps.connections.open")
	if len(calls) != 5 {
		t.Fatalf("apps.connections.open called %d times, want 5 (1 + 3 failures + 1)", len(calls))
	}
	if calls[3].Status != 429 {
		t.Fatalf("4th open answered %d, want 429", calls[3].Status)
	}
	if gap := calls[4].At.Sub(calls[3].At); gap < time.Second {
		t.Errorf("client retried %v after a 429 with Retry-After 1, want at least 1s", gap)
	}

	srv.FailNext("apps.connections.open", 1, "invalid_auth")
	srv.Disconnect("")
	select {
	case err := <-c.done:
		var slackErr slack.SlackErrorResponse
		if !errors.As(err, &slackErr) || slackErr.Err != "invalid_auth" {
			t.Errorf("RunContext returned %v, want invalid_auth", err)
		}
		c.done <- nil // for the cleanup
	case <-time.After(waitLong):
		t.Fatal("RunContext did not return after invalid_auth")
	}
}

func TestPingsKeepTheConnectionAlive(t *testing.T) {
	srv := New(t, WithPingInterval(50*time.Millisecond))
	c := startSocketMode(t, srv, socketmode.OptionPingInterval(300*time.Millisecond))
	c.drain()
	srv.WaitConnection(t, 1, waitLong)
	time.Sleep(time.Second) // several of the client's ping checks
	if n := srv.ConnectionCount(); n != 1 {
		t.Fatalf("%d connections with pings on, want 1", n)
	}
	srv.SetPings(false)
	srv.WaitConnection(t, 2, waitLong)
}

func TestRedeliveryAndResend(t *testing.T) {
	srv := New(t)
	c := startSocketMode(t, srv)
	srv.WaitConnection(t, 1, waitLong)

	first := srv.SendMention(Mention{Text: "build"})
	ev1 := c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev1)
	again := srv.Redeliver(first)
	ev2 := c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev2)
	if again.ID == first.ID || ev2.Request.EnvelopeID != again.ID {
		t.Errorf("redelivery envelope %s (first %s), client saw %s", again.ID, first.ID, ev2.Request.EnvelopeID)
	}
	if ev2.Request.RetryAttempt != 1 || ev2.Request.RetryReason != "timeout" {
		t.Errorf("redelivery retry = %d %q", ev2.Request.RetryAttempt, ev2.Request.RetryReason)
	}
	if again.EventID() != first.EventID() || string(ev2.Request.Payload) != string(ev1.Request.Payload) {
		t.Errorf("redelivered payload differs")
	}

	same := srv.Resend(first)
	ev3 := c.next(socketmode.EventTypeEventsAPI)
	c.ack(ev3)
	if same.ID != first.ID || ev3.Request.RetryAttempt != 0 {
		t.Errorf("resend = %+v", ev3.Request)
	}
	srv.WaitFor(t, waitLong, "two acks of the first envelope", func(s *Server) bool {
		return len(s.AcksFor(first.ID)) == 2
	})
	srv.WaitAck(t, again.ID, waitLong)
}

func TestEnvelopesWaitForAConnection(t *testing.T) {
	srv := New(t)
	env := srv.SendSlashCommand(SlashCommand{Text: "status"})
	if got := srv.Envelopes(); len(got) != 1 || !got[0].Delivered.IsZero() {
		t.Fatalf("envelopes before any connection = %+v", got)
	}
	c := startSocketMode(t, srv)
	ev := c.next(socketmode.EventTypeSlashCommand)
	c.ack(ev)
	srv.WaitAck(t, env.ID, waitLong)
}

func TestWrongAppTokenIsFatalForTheClient(t *testing.T) {
	srv := New(t)
	api := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken("xapp-wrong"))
	sm := socketmode.New(api)
	go func() {
		for range sm.Events {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	err := sm.RunContext(ctx)
	if err == nil || err.Error() != "invalid_auth" {
		t.Fatalf("RunContext with a wrong app token = %v, want invalid_auth", err)
	}
	if _, _, err := newAPI(srv).StartSocketModeContext(ctx); err != nil {
		t.Fatalf("apps.connections.open with the app token: %v", err)
	}
	bot := slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(BotToken))
	if _, _, err := bot.StartSocketModeContext(ctx); err == nil || err.Error() != "not_allowed_token_type" {
		t.Fatalf("apps.connections.open with the bot token = %v, want not_allowed_token_type", err)
	}
}

func TestWaitAckFailsWhenNoAckComes(t *testing.T) {
	srv := New(t)
	env := srv.SendSlashCommand(SlashCommand{})
	ft := &fakeTB{TB: t}
	srv.WaitAck(ft, env.ID, 100*time.Millisecond)
	if !ft.failed || !strings.Contains(ft.msg, env.ID) {
		t.Fatalf("WaitAck without an ack: failed=%v msg=%q", ft.failed, ft.msg)
	}
}
