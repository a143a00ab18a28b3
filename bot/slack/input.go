package slack

import (
	"strconv"
	"strings"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"

	"github.com/gantry-ci/gantry/commands"
)

// inputKind says where a request came from, which decides how it is answered.
type inputKind int

const (
	fromSlash    inputKind = iota + 1 // /gantry …: answered through its response_url
	fromMention                       // @gantry … in a channel: answered in a thread under it
	fromDM                            // a direct message to the bot: answered in the conversation
	fromReaction                      // 🔁 or ❌ on a job's message: answered to the person alone
	fromButton                        // a click on one of gantry's buttons: answered through its response_url
)

// input is one thing a person did in Slack, in gantry's terms: what the
// handlers need, without Slack's types.
type input struct {
	kind inputKind
	// dedupe identifies the person's action across redeliveries:
	// "trigger:ID" for slash commands and clicks, "event:ID" for events.
	dedupe    string
	user      string
	channel   string
	threadTS  string // the thread the request was made in, "" at the top
	messageTS string // the person's message, or the message reacted to or clicked
	text      string // what was typed
	// command is set for reactions and clicks (the job of a reaction is
	// found from messageTS).
	command     *commands.Command
	responseURL string
	// onBot says a reaction is on a message gantry's bot posted.
	onBot bool
}

// reactionVerbs are the reactions that act on a job's message.
var reactionVerbs = map[string]commands.Verb{"repeat": commands.VerbRetry, "x": commands.VerbCancel}

// buttonVerbs are the action_ids of gantry's buttons.
var buttonVerbs = map[commands.Verb]bool{
	commands.VerbCancel: true, commands.VerbRetry: true, commands.VerbLogs: true,
	commands.VerbApprove: true, commands.VerbReject: true,
}

// convert turns a Socket Mode event into an input. It reports false for
// what gantry does not act on: its own messages and other bots',
// message_changed and the other message subtypes, other reactions, clicks
// on buttons that are not gantry's. botUser is gantry's own user ID.
func convert(ev socketmode.Event, botUser string) (input, bool) {
	switch ev.Type {
	case socketmode.EventTypeSlashCommand:
		c, ok := ev.Data.(goslack.SlashCommand)
		if !ok || c.UserID == "" {
			return input{}, false
		}
		return input{
			kind: fromSlash, dedupe: prefixed("trigger:", c.TriggerID), user: c.UserID, channel: c.ChannelID,
			text: c.Text, responseURL: c.ResponseURL,
		}, true
	case socketmode.EventTypeInteractive:
		cb, ok := ev.Data.(goslack.InteractionCallback)
		if !ok {
			return input{}, false
		}
		return convertClick(cb)
	case socketmode.EventTypeEventsAPI:
		outer, ok := ev.Data.(slackevents.EventsAPIEvent)
		if !ok {
			return input{}, false
		}
		eventID := ""
		if cb, ok := outer.Data.(*slackevents.EventsAPICallbackEvent); ok {
			eventID = cb.EventID
		}
		return convertEvent(outer.InnerEvent.Data, prefixed("event:", eventID), botUser)
	}
	return input{}, false
}

func prefixed(prefix, id string) string {
	if id == "" {
		return ""
	}
	return prefix + id
}

func convertClick(cb goslack.InteractionCallback) (input, bool) {
	if cb.Type != goslack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 || cb.User.ID == "" {
		return input{}, false
	}
	a := cb.ActionCallback.BlockActions[0]
	verb := commands.Verb(a.ActionID)
	job, err := strconv.ParseInt(a.Value, 10, 64)
	if !buttonVerbs[verb] || err != nil || job <= 0 {
		return input{}, false
	}
	channel := cb.Container.ChannelID
	if channel == "" {
		channel = cb.Channel.ID
	}
	return input{
		kind: fromButton, dedupe: prefixed("trigger:", cb.TriggerID), user: cb.User.ID, channel: channel,
		threadTS: cb.Container.ThreadTs, messageTS: cb.Container.MessageTs,
		command: &commands.Command{Verb: verb, Job: job}, responseURL: cb.ResponseURL,
	}, true
}

func convertEvent(data any, dedupe, botUser string) (input, bool) {
	switch e := data.(type) {
	case *slackevents.AppMentionEvent:
		// Direct messages come as message.im; bots and edits are not requests.
		if e.User == "" || e.User == botUser || e.BotID != "" || strings.HasPrefix(e.Channel, "D") || e.Edited != nil {
			return input{}, false
		}
		return input{kind: fromMention, dedupe: dedupe, user: e.User, channel: e.Channel, threadTS: e.ThreadTimeStamp, messageTS: e.TimeStamp, text: e.Text}, true
	case *slackevents.MessageEvent:
		if e.ChannelType != "im" || e.SubType != "" || e.BotID != "" || e.User == "" || e.User == botUser {
			return input{}, false
		}
		return input{kind: fromDM, dedupe: dedupe, user: e.User, channel: e.Channel, threadTS: e.ThreadTimeStamp, messageTS: e.TimeStamp, text: e.Text}, true
	case *slackevents.ReactionAddedEvent:
		verb, ok := reactionVerbs[e.Reaction]
		if !ok || e.User == "" || e.User == botUser || e.Item.Type != "message" {
			return input{}, false
		}
		return input{
			kind: fromReaction, dedupe: dedupe, user: e.User, channel: e.Item.Channel, messageTS: e.Item.Timestamp,
			command: &commands.Command{Verb: verb}, onBot: e.ItemUser != "" && e.ItemUser == botUser,
		}, true
	}
	return input{}, false
}
