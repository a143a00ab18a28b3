package slack

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/gantry-ci/gantry/commands"
)

const me = "U0GANTRY"

func eventsAPI(inner any) socketmode.Event {
	return socketmode.Event{Type: socketmode.EventTypeEventsAPI, Data: slackevents.EventsAPIEvent{
		Data: &slackevents.EventsAPICallbackEvent{EventID: "Ev1"}, InnerEvent: slackevents.EventsAPIInnerEvent{Data: inner},
	}}
}

func click(actionID, value string) socketmode.Event {
	cb := goslack.InteractionCallback{
		Type: goslack.InteractionTypeBlockActions, TriggerID: "T1", ResponseURL: "https://hooks/r",
		User: goslack.User{ID: "U0BOB"}, Container: goslack.Container{ChannelID: "C1", MessageTs: "100.1"},
	}
	cb.ActionCallback.BlockActions = []*goslack.BlockAction{{ActionID: actionID, Value: value}}
	return socketmode.Event{Type: socketmode.EventTypeInteractive, Data: cb}
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   socketmode.Event
		want *input
	}{
		{"slash command", socketmode.Event{Type: socketmode.EventTypeSlashCommand, Data: goslack.SlashCommand{
			UserID: "U0ALICE", ChannelID: "C1", Text: "build api", TriggerID: "T9", ResponseURL: "https://hooks/x"}},
			&input{kind: fromSlash, dedupe: "trigger:T9", user: "U0ALICE", channel: "C1", text: "build api", responseURL: "https://hooks/x"}},
		{"mention in a thread", eventsAPI(&slackevents.AppMentionEvent{User: "U0ALICE", Channel: "C1", Text: "<@U0GANTRY> logs", TimeStamp: "5.5", ThreadTimeStamp: "4.4"}),
			&input{kind: fromMention, dedupe: "event:Ev1", user: "U0ALICE", channel: "C1", threadTS: "4.4", messageTS: "5.5", text: "<@U0GANTRY> logs"}},
		{"mention by a bot", eventsAPI(&slackevents.AppMentionEvent{User: "U0X", BotID: "B1", Channel: "C1", Text: "hi"}), nil},
		{"mention in a direct message", eventsAPI(&slackevents.AppMentionEvent{User: "U0ALICE", Channel: "D1", Text: "hi"}), nil},
		{"edited mention", eventsAPI(&slackevents.AppMentionEvent{User: "U0ALICE", Channel: "C1", Text: "hi", Edited: &slackevents.Edited{User: "U0ALICE"}}), nil},
		{"direct message", eventsAPI(&slackevents.MessageEvent{User: "U0ALICE", Channel: "D1", ChannelType: "im", Text: "queue", TimeStamp: "6.6"}),
			&input{kind: fromDM, dedupe: "event:Ev1", user: "U0ALICE", channel: "D1", messageTS: "6.6", text: "queue"}},
		{"own direct message", eventsAPI(&slackevents.MessageEvent{User: me, Channel: "D1", ChannelType: "im", Text: "Queued #1"}), nil},
		{"bot message", eventsAPI(&slackevents.MessageEvent{User: "U0X", BotID: "B1", Channel: "D1", ChannelType: "im", Text: "hi"}), nil},
		{"message_changed", eventsAPI(&slackevents.MessageEvent{SubType: "message_changed", Channel: "D1", ChannelType: "im"}), nil},
		{"channel message", eventsAPI(&slackevents.MessageEvent{User: "U0ALICE", Channel: "C1", ChannelType: "channel", Text: "build"}), nil},
		{"repeat reaction", eventsAPI(&slackevents.ReactionAddedEvent{User: "U0BOB", Reaction: "repeat", Item: slackevents.Item{Type: "message", Channel: "C1", Timestamp: "7.7"}}),
			&input{kind: fromReaction, dedupe: "event:Ev1", user: "U0BOB", channel: "C1", messageTS: "7.7", command: &commands.Command{Verb: commands.VerbRetry}}},
		{"x reaction", eventsAPI(&slackevents.ReactionAddedEvent{User: "U0BOB", Reaction: "x", Item: slackevents.Item{Type: "message", Channel: "C1", Timestamp: "7.7"}}),
			&input{kind: fromReaction, dedupe: "event:Ev1", user: "U0BOB", channel: "C1", messageTS: "7.7", command: &commands.Command{Verb: commands.VerbCancel}}},
		{"x reaction on the bot's message", eventsAPI(&slackevents.ReactionAddedEvent{User: "U0BOB", Reaction: "x", ItemUser: me, Item: slackevents.Item{Type: "message", Channel: "C1", Timestamp: "7.7"}}),
			&input{kind: fromReaction, dedupe: "event:Ev1", user: "U0BOB", channel: "C1", messageTS: "7.7", command: &commands.Command{Verb: commands.VerbCancel}, onBot: true}},
		{"other reaction", eventsAPI(&slackevents.ReactionAddedEvent{User: "U0BOB", Reaction: "tada", Item: slackevents.Item{Type: "message", Channel: "C1", Timestamp: "7.7"}}), nil},
		{"own reaction", eventsAPI(&slackevents.ReactionAddedEvent{User: me, Reaction: "x", Item: slackevents.Item{Type: "message", Channel: "C1", Timestamp: "7.7"}}), nil},
		{"reaction on a file", eventsAPI(&slackevents.ReactionAddedEvent{User: "U0BOB", Reaction: "x", Item: slackevents.Item{Type: "file"}}), nil},
		{"cancel button", click("cancel", "42"),
			&input{kind: fromButton, dedupe: "trigger:T1", user: "U0BOB", channel: "C1", messageTS: "100.1", responseURL: "https://hooks/r", command: &commands.Command{Verb: commands.VerbCancel, Job: 42}}},
		{"approve button", click("approve", "7"),
			&input{kind: fromButton, dedupe: "trigger:T1", user: "U0BOB", channel: "C1", messageTS: "100.1", responseURL: "https://hooks/r", command: &commands.Command{Verb: commands.VerbApprove, Job: 7}}},
		{"button of another app", click("open_modal", "42"), nil},
		{"button without a job", click("cancel", "x"), nil},
		{"hello", socketmode.Event{Type: socketmode.EventTypeHello}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := convert(tc.ev, me)
			if tc.want == nil {
				if ok {
					t.Errorf("convert = %+v, want it ignored", got)
				}
				return
			}
			if !ok {
				t.Fatal("ignored")
			}
			if d := cmp.Diff(*tc.want, got, cmp.AllowUnexported(input{})); d != "" {
				t.Errorf("convert (-want +got):\n%s", d)
			}
		})
	}
}
