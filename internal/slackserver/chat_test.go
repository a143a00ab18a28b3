package slackserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/slack-go/slack"
)

// slackError returns the Slack error code of err, "" when it is not one.
func slackError(err error) string {
	var e slack.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	return ""
}

func TestAuth(t *testing.T) {
	srv := New(t)
	resp, err := newAPI(srv).AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if resp.UserID != BotUserID || resp.BotID != BotID || resp.TeamID != TeamID || resp.User != BotName {
		t.Errorf("auth.test = %+v", resp)
	}
	for _, tt := range []struct{ token, want string }{
		{"xoxb-wrong", "invalid_auth"},
		{"", "not_authed"},
		{AppToken, "not_allowed_token_type"},
	} {
		token, want := tt.token, tt.want
		api := slack.New(token, slack.OptionAPIURL(srv.APIURL()))
		if _, err := api.AuthTest(); slackError(err) != want {
			t.Errorf("auth.test with token %q: %v, want %s", token, err, want)
		}
		if _, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("hi", false)); slackError(err) != want {
			t.Errorf("chat.postMessage with token %q: %v, want %s", token, err, want)
		}
	}
	if n := len(srv.Messages("C0BUILDS")); n != 0 {
		t.Errorf("%d messages posted with bad tokens", n)
	}
	calls := srv.Calls("auth.test")
	if len(calls) != 4 || calls[0].Token != BotToken || calls[1].Error != "invalid_auth" || calls[0].Status != 200 {
		t.Errorf("auth.test calls = %+v", calls)
	}
}

func TestPostUpdateThreadEphemeral(t *testing.T) {
	srv := New(t)
	api := newPatientAPI(srv)

	ch, ts, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("#1 queued", false))
	if err != nil {
		t.Fatal(err)
	}
	if ch != "C0BUILDS" || ts == "" {
		t.Fatalf("postMessage = %q %q", ch, ts)
	}
	var replies []string
	for _, line := range []string{"step 1", "step 2"} {
		_, rts, err := api.PostMessage("C0BUILDS", slack.MsgOptionText(line, false), slack.MsgOptionTS(ts))
		if err != nil {
			t.Fatal(err)
		}
		replies = append(replies, rts)
	}
	// A reply's ts names its thread, as in Slack.
	if _, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("step 3", false), slack.MsgOptionTS(replies[0])); err != nil {
		t.Fatal(err)
	}
	if compareTS(replies[0], ts) <= 0 || compareTS(replies[1], replies[0]) <= 0 {
		t.Errorf("ts not increasing: %s %v", ts, replies)
	}

	_, _, text, err := api.UpdateMessage("C0BUILDS", ts, slack.MsgOptionText("#1 running", false))
	if err != nil || text != "#1 running" {
		t.Fatalf("update = %q, %v", text, err)
	}
	thread := srv.Thread("C0BUILDS", ts)
	var texts []string
	for _, m := range thread {
		texts = append(texts, m.Text)
	}
	if got := strings.Join(texts, "|"); got != "#1 running|step 1|step 2|step 3" {
		t.Errorf("thread = %s", got)
	}
	parent := thread[0]
	if !parent.Edited() || len(parent.Revisions) != 2 || parent.Revisions[0].Text != "#1 queued" || parent.ThreadTS != "" {
		t.Errorf("parent = %+v", parent)
	}
	if thread[3].ThreadTS != ts {
		t.Errorf("reply to a reply has thread_ts %s, want %s", thread[3].ThreadTS, ts)
	}
	if h := srv.History("C0BUILDS"); len(h) != 1 || h[0].TS != ts {
		t.Errorf("history = %+v", h)
	}

	if _, _, _, err := api.UpdateMessage("C0BUILDS", "1.000001", slack.MsgOptionText("x", false)); slackError(err) != "message_not_found" {
		t.Errorf("update of a missing message: %v", err)
	}
	if _, _, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("x", false), slack.MsgOptionTS("1.000001")); slackError(err) != "thread_not_found" {
		t.Errorf("reply to a missing thread: %v", err)
	}
	if _, _, err := api.PostMessage("#builds", slack.MsgOptionText("x", false)); slackError(err) != "channel_not_found" {
		t.Errorf("post to a channel name: %v", err)
	}
	if _, _, err := api.PostMessage("C0BUILDS"); slackError(err) != "no_text" {
		t.Errorf("post without content: %v", err)
	}

	if _, err := api.PostEphemeral("C0BUILDS", "U0ALICE", slack.MsgOptionText("only you", false), slack.MsgOptionTS(ts)); err != nil {
		t.Fatal(err)
	}
	e := srv.Ephemerals("U0ALICE")
	if len(e) != 1 || e[0].Text != "only you" || e[0].ThreadTS != ts || e[0].Channel != "C0BUILDS" || e[0].TS == "" {
		t.Errorf("ephemerals = %+v", e)
	}
	if len(srv.Ephemerals("U0BOB")) != 0 {
		t.Error("ephemeral shown to the wrong person")
	}

	if err := api.AddReaction("white_check_mark", slack.ItemRef{Channel: "C0BUILDS", Timestamp: ts}); err != nil {
		t.Fatal(err)
	}
	if err := api.AddReaction("white_check_mark", slack.ItemRef{Channel: "C0BUILDS", Timestamp: ts}); slackError(err) != "already_reacted" {
		t.Errorf("second identical reaction: %v", err)
	}

	if _, _, err := api.DeleteMessage("C0BUILDS", replies[1]); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Thread("C0BUILDS", ts)); n != 3 {
		t.Errorf("thread has %d messages after a delete, want 3", n)
	}
	if m, ok := srv.Message("C0BUILDS", replies[1]); !ok || !m.Deleted {
		t.Errorf("deleted message = %+v, %v", m, ok)
	}

	post := srv.Calls("chat.postMessage")[1]
	if post.Args.Get("thread_ts") != ts || post.Args.Get("text") != "step 1" || post.Args.Get("token") != "" || post.Token != BotToken {
		t.Errorf("recorded call = %+v", post)
	}
}

func TestUpdateKeepsBlocksUnlessSent(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	section := slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", "*#7* running", false, false), nil, nil)
	_, ts, err := api.PostMessage("C0BUILDS", slack.MsgOptionText("#7 running", false), slack.MsgOptionBlocks(section))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := api.UpdateMessage("C0BUILDS", ts, slack.MsgOptionText("#7 still running", false)); err != nil {
		t.Fatal(err)
	}
	m, _ := srv.Message("C0BUILDS", ts)
	if m.VisibleText() != "*#7* running" || m.Text != "#7 still running" {
		t.Errorf("after a text-only update: text %q, visible %q", m.Text, m.VisibleText())
	}
	if _, _, _, err := api.UpdateMessage("C0BUILDS", ts, slack.MsgOptionText("#7 done", false), slack.MsgOptionBlocks()); err != nil {
		t.Fatal(err)
	}
	m, _ = srv.Message("C0BUILDS", ts)
	if m.Blocks != "" || m.VisibleText() != "#7 done" || len(m.Revisions) != 3 {
		t.Errorf("after clearing blocks: %+v", m)
	}
}

func TestPeopleCannotBeEditedByTheBot(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	env := srv.SendMention(Mention{Channel: "C0BUILDS", Text: "build"})
	if _, _, _, err := api.UpdateMessage("C0BUILDS", env.MessageTS, slack.MsgOptionText("x", false)); slackError(err) != "cant_update_message" {
		t.Errorf("update of a person's message: %v", err)
	}
	if _, _, err := api.DeleteMessage("C0BUILDS", env.MessageTS); slackError(err) != "cant_delete_message" {
		t.Errorf("delete of a person's message: %v", err)
	}
}

func sections(n, textLen int) []slack.Block {
	blocks := make([]slack.Block, n)
	for i := range blocks {
		blocks[i] = slack.NewSectionBlock(slack.NewTextBlockObject("mrkdwn", strings.Repeat("a", textLen), false, false), nil, nil)
	}
	return blocks
}

func TestMessageLimits(t *testing.T) {
	srv := New(t)
	api := newPatientAPI(srv)
	button := func(text string) slack.Block {
		return slack.NewActionBlock("", slack.NewButtonBlockElement("go", "v", slack.NewTextBlockObject("plain_text", text, false, false)))
	}
	tests := []struct {
		name   string
		blocks []slack.Block
		want   string
	}{
		{"50 blocks", sections(50, 10), ""},
		{"51 blocks", sections(51, 10), "invalid_blocks"},
		{"section text of 3000", sections(1, MaxSectionText), ""},
		{"section text of 3001", sections(1, MaxSectionText+1), "invalid_blocks"},
		{"empty section text", sections(1, 0), "invalid_blocks"},
		{"blocks over 13000 characters", sections(5, 2900), "msg_blocks_too_long"},
		{"button label of 76", []slack.Block{button(strings.Repeat("b", 76))}, "invalid_blocks"},
		{"header of 151", []slack.Block{slack.NewHeaderBlock(slack.NewTextBlockObject("plain_text", strings.Repeat("h", 151), false, false))}, "invalid_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := api.PostMessage("C0LIMITS", slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(tt.blocks...))
			if got := slackError(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
	// The same limits hold for updates, which then leave the message alone.
	_, ts, err := api.PostMessage("C0LIMITS", slack.MsgOptionText("ok", false))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = api.UpdateMessage("C0LIMITS", ts, slack.MsgOptionBlocks(sections(51, 1)...))
	var e slack.SlackErrorResponse
	if !errors.As(err, &e) || e.Err != "invalid_blocks" || len(e.ResponseMetadata.Messages) != 1 {
		t.Errorf("update with 51 blocks: %#v", err)
	}
	if m, _ := srv.Message("C0LIMITS", ts); m.Edited() {
		t.Error("a rejected update changed the message")
	}

	long := strings.Repeat("é", MaxText+10)
	_, ts, err = api.PostMessage("C0LIMITS", slack.MsgOptionText(long, false))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Message("C0LIMITS", ts); utf8.RuneCountInString(m.Text) != MaxText {
		t.Errorf("text of %d characters kept as %d", MaxText+10, utf8.RuneCountInString(m.Text))
	}
}

func TestDirectory(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	srv.AddUser(User{ID: "U0ADMIN", Name: "root", RealName: "Ada Admin", DisplayName: "ada", IsAdmin: true})
	srv.SetUserGroup("S0RELEASE", "U0ALICE", "U0BOB")
	srv.AddChannel(Channel{ID: "C0DEPLOY", Name: "deploys"})

	u, err := api.GetUserInfo("U0ADMIN")
	if err != nil || u.Name != "root" || u.RealName != "Ada Admin" || !u.IsAdmin || u.Profile.DisplayName != "ada" {
		t.Errorf("users.info = %+v, %v", u, err)
	}
	if _, err := api.GetUserInfo("U0NOBODY"); slackError(err) != "user_not_found" {
		t.Errorf("users.info of an unknown user: %v", err)
	}
	if bot, err := api.GetUserInfo(BotUserID); err != nil || !bot.IsBot {
		t.Errorf("users.info of the bot = %+v, %v", bot, err)
	}

	members, err := api.GetUserGroupMembers("S0RELEASE")
	if err != nil || strings.Join(members, ",") != "U0ALICE,U0BOB" {
		t.Errorf("usergroups.users.list = %v, %v", members, err)
	}
	if _, err := api.GetUserGroupMembers("S0NONE"); slackError(err) != "no_such_subteam" {
		t.Errorf("unknown group: %v", err)
	}

	c, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "C0DEPLOY"})
	if err != nil || c.Name != "deploys" || c.IsIM || !c.IsChannel {
		t.Errorf("conversations.info = %+v, %v", c, err)
	}
	dm, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "D0ALICE"})
	if err != nil || !dm.IsIM {
		t.Errorf("conversations.info of a DM = %+v, %v", dm, err)
	}
	if _, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "general"}); slackError(err) != "channel_not_found" {
		t.Errorf("conversations.info of a name: %v", err)
	}
}

func TestUnknownMethodIsRecorded(t *testing.T) {
	srv := New(t)
	_, _, err := newAPI(srv).GetConversationsForUser(&slack.GetConversationsForUserParameters{UserID: "U0ALICE"})
	if slackError(err) != "unknown_method" {
		t.Errorf("users.conversations: %v", err)
	}
	if calls := srv.Calls("users.conversations"); len(calls) != 1 || calls[0].Args.Get("user") != "U0ALICE" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestResponseURLDeleteAndUseLimit(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	_, ts, err := api.PostMessage("C0DEPLOY", slack.MsgOptionText("approve?", false))
	if err != nil {
		t.Fatal(err)
	}
	env := srv.SendBlockAction(BlockAction{Channel: "C0DEPLOY", MessageTS: ts, ActionID: "approve"})
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	if err := json.Unmarshal(env.Payload, &p); err != nil {
		t.Fatal(err)
	}
	for i := range MaxResponseURLUses - 1 {
		if _, _, err := api.PostMessage("", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeEphemeral),
			slack.MsgOptionText(fmt.Sprintf("note %d", i), false)); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := api.PostMessage("", slack.MsgOptionDeleteOriginal(p.ResponseURL)); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Message("C0DEPLOY", ts); !m.Deleted {
		t.Error("delete_original left the message")
	}
	_, _, err = api.PostMessage("", slack.MsgOptionResponseURL(p.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("late", false))
	if slackError(err) != "used_url" {
		t.Errorf("use %d of a response_url: %v, want used_url", MaxResponseURLUses+1, err)
	}
	if n := len(srv.Ephemerals(DefaultUser)); n != MaxResponseURLUses-1 {
		t.Errorf("%d ephemerals, want %d", n, MaxResponseURLUses-1)
	}
}
