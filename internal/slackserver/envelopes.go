package slackserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Envelope types, as in the "type" of a Socket Mode frame.
const (
	TypeSlashCommands = "slash_commands"
	TypeEventsAPI     = "events_api"
	TypeInteractive   = "interactive"
)

// Envelope is one Socket Mode request the server sent or is about to send.
type Envelope struct {
	ID      string
	Type    string
	Payload json.RawMessage

	AcceptsResponsePayload bool
	RetryAttempt           int
	RetryReason            string

	// MessageTS is the ts of the message a person "posted" to make the
	// envelope (SendMention, SendMessage), "" otherwise.
	MessageTS string

	Created time.Time
	// Delivered is when it went out, zero while it waits for a connection.
	Delivered time.Time
	Conn      int // connection it went out on: 1 for the first
}

func (e *Envelope) frame() []byte {
	return mustJSON(map[string]any{
		"envelope_id":              e.ID,
		"type":                     e.Type,
		"payload":                  e.Payload,
		"accepts_response_payload": e.AcceptsResponsePayload,
		"retry_attempt":            e.RetryAttempt,
		"retry_reason":             e.RetryReason,
	})
}

// newEnvelopeID returns an ID shaped like Slack's (a UUID).
func newEnvelopeID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Send delivers an envelope of any type with the payload as given: on a
// random open connection, or on the next connection to open when there is
// none. The Send helpers below build the payloads gantry needs.
func (s *Server) Send(envType string, payload json.RawMessage) Envelope {
	return s.send(&Envelope{Type: envType, Payload: payload})
}

func (s *Server) send(e *Envelope) Envelope {
	if e.ID == "" {
		e.ID = newEnvelopeID()
	}
	e.Created = time.Now()
	s.mu.Lock()
	s.envelopes = append(s.envelopes, e)
	s.mu.Unlock()
	s.deliver(e)
	s.mu.Lock()
	defer s.mu.Unlock()
	return *e
}

// Redeliver sends env's payload again under a new envelope ID with
// retry_attempt one higher and retry_reason "timeout", as Slack does when an
// envelope was not acknowledged in time.
func (s *Server) Redeliver(env Envelope) Envelope {
	return s.send(&Envelope{
		Type:                   env.Type,
		Payload:                env.Payload,
		AcceptsResponsePayload: env.AcceptsResponsePayload,
		RetryAttempt:           env.RetryAttempt + 1,
		RetryReason:            "timeout",
		MessageTS:              env.MessageTS,
	})
}

// Resend sends exactly the same frame again, envelope ID included.
func (s *Server) Resend(env Envelope) Envelope {
	return s.send(&Envelope{
		ID:                     env.ID,
		Type:                   env.Type,
		Payload:                env.Payload,
		AcceptsResponsePayload: env.AcceptsResponsePayload,
		RetryAttempt:           env.RetryAttempt,
		RetryReason:            env.RetryReason,
		MessageTS:              env.MessageTS,
	})
}

// Envelopes returns every envelope sent or waiting, oldest first.
func (s *Server) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Envelope, len(s.envelopes))
	for i, e := range s.envelopes {
		out[i] = *e
	}
	return out
}

// SlashCommand is a slash command a person typed. Empty fields get the
// Default values; TriggerID and ResponseURL are made up (the response URL is
// on this server: see ResponsePosts).
type SlashCommand struct {
	Command     string // "/gantry"
	Text        string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	TeamID      string
	TriggerID   string
	ResponseURL string
}

// SendSlashCommand delivers a slash_commands envelope.
func (s *Server) SendSlashCommand(c SlashCommand) Envelope {
	c.Command = or(c.Command, DefaultCommand)
	c.UserID = or(c.UserID, DefaultUser)
	c.UserName = or(c.UserName, DefaultUserName)
	c.ChannelID = or(c.ChannelID, DefaultChannel)
	c.ChannelName = or(c.ChannelName, DefaultChannelName)
	c.TeamID = or(c.TeamID, TeamID)
	s.mu.Lock()
	s.ensureUserLocked(c.UserID, c.UserName)
	s.ensureChannelLocked(c.ChannelID, c.ChannelName)
	c.TriggerID = or(c.TriggerID, s.triggerIDLocked())
	if c.ResponseURL == "" {
		c.ResponseURL = s.newResponseURLLocked(responseURL{kind: TypeSlashCommands, channel: c.ChannelID, user: c.UserID})
	}
	s.mu.Unlock()
	payload := mustJSON(map[string]any{
		"token":        VerificationToken,
		"team_id":      c.TeamID,
		"team_domain":  TeamDomain,
		"channel_id":   c.ChannelID,
		"channel_name": c.ChannelName,
		"user_id":      c.UserID,
		"user_name":    c.UserName,
		"command":      c.Command,
		"text":         c.Text,
		"api_app_id":   AppID,
		"response_url": c.ResponseURL,
		"trigger_id":   c.TriggerID,
	})
	return s.send(&Envelope{Type: TypeSlashCommands, Payload: payload, AcceptsResponsePayload: true})
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// triggerIDLocked makes a trigger_id shaped like Slack's.
func (s *Server) triggerIDLocked() string {
	s.ids++
	return fmt.Sprintf("%d.%d.%s", time.Now().Unix(), s.ids, randomHex(16))
}

// Mention is a person's message that mentions the bot.
type Mention struct {
	Channel string // DefaultChannel when empty
	User    string // DefaultUser when empty
	// Text is the message text; "<@BotUserID> " is put in front unless it
	// already mentions the bot.
	Text string
	// ThreadTS, when set, posts the message as a reply in that thread.
	ThreadTS string
}

// SendMention puts the person's message into the channel (so replies can be
// threaded under it; Envelope.MessageTS is its ts) and delivers an app_mention
// event for it.
func (s *Server) SendMention(m Mention) Envelope {
	text := m.Text
	if mention := "<@" + BotUserID + ">"; !strings.Contains(text, mention) {
		text = mention + " " + text
	}
	msg := s.postAsPerson(or(m.Channel, DefaultChannel), or(m.User, DefaultUser), text, m.ThreadTS)
	event := map[string]any{
		"type":          "app_mention",
		"user":          msg.User,
		"text":          msg.Text,
		"ts":            msg.TS,
		"channel":       msg.Channel,
		"event_ts":      msg.TS,
		"team":          TeamID,
		"client_msg_id": newEnvelopeID(),
	}
	if msg.ThreadTS != "" {
		event["thread_ts"] = msg.ThreadTS
	}
	return s.sendEvent(event, msg.TS)
}

// UserMessage is a message a person (or another bot) posts.
type UserMessage struct {
	Channel string // DefaultChannel when empty; a D… ID is a direct message
	User    string // DefaultUser when empty
	Text    string
	// ThreadTS, when set, posts the message as a reply in that thread.
	ThreadTS string
	// ChannelType is "channel", "group", "im" or "mpim"; by default "im" for
	// a D… channel, "group" for G… and "channel" otherwise.
	ChannelType string
	// BotID marks the message as a bot's (BotID for gantry's own).
	BotID string
}

// SendMessage puts the message into the channel and delivers a message event
// for it.
func (s *Server) SendMessage(m UserMessage) Envelope {
	ch := or(m.Channel, DefaultChannel)
	msg := s.postAsPerson(ch, or(m.User, DefaultUser), m.Text, m.ThreadTS)
	if m.BotID != "" {
		s.mu.Lock()
		if stored := s.findLocked(ch, msg.TS); stored != nil {
			stored.BotID = m.BotID
		}
		s.mu.Unlock()
	}
	chType := m.ChannelType
	if chType == "" {
		switch ch[0] {
		case 'D':
			chType = "im"
		case 'G':
			chType = "group"
		default:
			chType = "channel"
		}
	}
	event := map[string]any{
		"type":         "message",
		"channel":      ch,
		"user":         msg.User,
		"text":         msg.Text,
		"ts":           msg.TS,
		"event_ts":     msg.TS,
		"channel_type": chType,
		"team":         TeamID,
	}
	if m.BotID != "" {
		event["bot_id"] = m.BotID
	} else {
		event["client_msg_id"] = newEnvelopeID()
	}
	if msg.ThreadTS != "" {
		event["thread_ts"] = msg.ThreadTS
	}
	return s.sendEvent(event, msg.TS)
}

// postAsPerson stores a message by user. An unknown ThreadTS is kept as is.
func (s *Server) postAsPerson(channel, user, text, threadTS string) Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ensureUserLocked(user, "")
	if threadTS != "" {
		if p, bad := s.resolveThreadLocked(channel, threadTS); bad == nil {
			threadTS = p
		}
	}
	m := &Message{
		Channel:  channel,
		TS:       s.nextTSLocked(),
		ThreadTS: threadTS,
		User:     user,
		Text:     text,
		Posted:   time.Now(),
	}
	s.addMessageLocked(m)
	return m.clone()
}

// Reaction added by a person to a message.
type ReactionAdded struct {
	Channel string // DefaultChannel when empty
	TS      string // the message reacted to
	User    string // DefaultUser when empty
	Name    string // emoji name without colons: "repeat", "x"
}

// SendReaction records the reaction on the message (when the server has it)
// and delivers a reaction_added event.
func (s *Server) SendReaction(r ReactionAdded) Envelope {
	ch := or(r.Channel, DefaultChannel)
	user := or(r.User, DefaultUser)
	s.mu.Lock()
	s.ensureUserLocked(user, "")
	itemUser := ""
	if m := s.findLocked(ch, r.TS); m != nil {
		itemUser = m.User
		m.Reactions = append(m.Reactions, Reaction{Name: r.Name, User: user})
		s.notifyLocked()
	}
	eventTS := s.nextTSLocked()
	s.mu.Unlock()
	event := map[string]any{
		"type":      "reaction_added",
		"user":      user,
		"reaction":  r.Name,
		"item_user": itemUser,
		"item":      map[string]any{"type": "message", "channel": ch, "ts": r.TS},
		"event_ts":  eventTS,
	}
	return s.sendEvent(event, "")
}

// SendEvent delivers an events_api envelope whose inner event is event (any
// value that encodes to a JSON object with a "type"), wrapped the way Slack
// wraps it, with a fresh event_id.
func (s *Server) SendEvent(event any) Envelope {
	return s.sendEvent(event, "")
}

func (s *Server) sendEvent(event any, messageTS string) Envelope {
	s.mu.Lock()
	eventID := s.nextIDLocked("Ev")
	s.mu.Unlock()
	payload := mustJSON(map[string]any{
		"token":      VerificationToken,
		"team_id":    TeamID,
		"api_app_id": AppID,
		"event":      event,
		"type":       "event_callback",
		"event_id":   eventID,
		"event_time": time.Now().Unix(),
		"authorizations": []map[string]any{{
			"enterprise_id":         "",
			"team_id":               TeamID,
			"user_id":               BotUserID,
			"is_bot":                true,
			"is_enterprise_install": false,
		}},
		"is_ext_shared_channel": false,
		"event_context":         "4-" + randomHex(12),
	})
	return s.send(&Envelope{Type: TypeEventsAPI, Payload: payload, MessageTS: messageTS})
}

// EventID returns the event_id of an events_api envelope's payload.
func (e Envelope) EventID() string {
	var p struct {
		EventID string `json:"event_id"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.EventID
}

// TriggerID returns the trigger_id of a slash command or interaction payload.
func (e Envelope) TriggerID() string {
	var p struct {
		TriggerID string `json:"trigger_id"`
	}
	_ = json.Unmarshal(e.Payload, &p)
	return p.TriggerID
}
