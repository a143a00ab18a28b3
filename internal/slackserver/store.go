package slackserver

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Message is a message in a channel as the server holds it: what people in
// the channel see, with its history.
type Message struct {
	Channel string
	TS      string
	// ThreadTS is the parent's ts for a reply in a thread, "" for a message
	// posted to the channel itself.
	ThreadTS string
	// User is the author: BotUserID for what the bot posted, the person's ID
	// for messages made by the Send helpers.
	User  string
	BotID string // BotID for the bot's messages
	Text  string
	// Blocks is the JSON array of blocks as last set, "" when there are none.
	Blocks      string
	Attachments string // JSON array as sent, "" when none
	// Metadata is the message metadata as sent with chat.postMessage (a
	// JSON object with event_type and event_payload), "" when none.
	Metadata string
	Files    []string // IDs of the files shared with this message
	// Broadcast is set on a reply posted with reply_broadcast: it shows in
	// the channel too.
	Broadcast bool
	Reactions []Reaction
	// Revisions holds every version of the message, oldest first: the
	// original post, then one per chat.update (or replace_original). The last
	// one is the current Text and Blocks.
	Revisions []Revision
	Deleted   bool
	Posted    time.Time
}

// Revision is one version of a message.
type Revision struct {
	Text   string
	Blocks string
	At     time.Time
}

// Reaction is an emoji reaction on a message.
type Reaction struct {
	Name string // without colons: "repeat"
	User string
}

// Edited reports whether the message was changed after it was posted.
func (m Message) Edited() bool { return len(m.Revisions) > 1 }

// FromBot reports whether the bot posted the message.
func (m Message) FromBot() bool { return m.BotID == BotID }

// Ephemeral is a message only one person sees, from chat.postEphemeral or
// an ephemeral response_url reply.
type Ephemeral struct {
	Channel  string
	User     string // who sees it
	TS       string
	ThreadTS string
	Text     string
	Blocks   string
	At       time.Time
	// Via is "chat.postEphemeral" or ResponseURLMethod.
	Via string
}

// User is a person (or bot) users.info knows.
type User struct {
	ID          string
	Name        string // the handle
	RealName    string
	DisplayName string // the name they chose to be shown; "" when they chose none
	Email       string // users.lookupByEmail finds them by it
	IsAdmin     bool
	IsBot       bool
	Deleted     bool
}

// Channel is a conversation conversations.info knows.
type Channel struct {
	ID        string
	Name      string
	IsIM      bool
	IsPrivate bool
	// User is the other person of a direct message channel.
	User string
	// NotMember: the bot has not been invited; posting there fails with
	// not_in_channel, as in Slack.
	NotMember bool
	// Members are the people conversations.members lists.
	Members []string
	// Archived: conversations.list leaves it out with exclude_archived.
	Archived bool
}

func (m *Message) clone() Message {
	c := *m
	c.Files = slices.Clone(m.Files)
	c.Reactions = slices.Clone(m.Reactions)
	c.Revisions = slices.Clone(m.Revisions)
	return c
}

// nextTSLocked returns a message timestamp, unique and greater than every
// one before. s.mu must be held.
func (s *Server) nextTSLocked() string {
	now := time.Now().UnixMicro()
	if now <= s.lastTS {
		now = s.lastTS + 1
	}
	s.lastTS = now
	return formatTS(now)
}

// formatTS writes microseconds since the epoch as a Slack timestamp.
func formatTS(us int64) string {
	return fmt.Sprintf("%d.%06d", us/1e6, us%1e6)
}

// nextIDLocked returns prefix followed by a unique upper-case suffix, the
// shape of Slack's IDs. s.mu must be held.
func (s *Server) nextIDLocked(prefix string) string {
	s.ids++
	return fmt.Sprintf("%s%08X", prefix, s.ids)
}

// findLocked returns the message with ts in channel, deleted or not.
func (s *Server) findLocked(channel, ts string) *Message {
	for _, m := range s.messages[channel] {
		if m.TS == ts {
			return m
		}
	}
	return nil
}

// addMessageLocked stores m in its channel, keeping ts order.
func (s *Server) addMessageLocked(m *Message) {
	if len(m.Revisions) == 0 {
		m.Revisions = []Revision{{Text: m.Text, Blocks: m.Blocks, At: m.Posted}}
	}
	list := append(s.messages[m.Channel], m)
	slices.SortStableFunc(list, func(a, b *Message) int { return compareTS(a.TS, b.TS) })
	s.messages[m.Channel] = list
	s.ensureChannelLocked(m.Channel, "")
	s.notifyLocked()
}

// compareTS orders Slack timestamps ("seconds.micros").
func compareTS(a, b string) int {
	as, af, _ := strings.Cut(a, ".")
	bs, bf, _ := strings.Cut(b, ".")
	if len(as) != len(bs) {
		return len(as) - len(bs)
	}
	if c := strings.Compare(as, bs); c != 0 {
		return c
	}
	return strings.Compare(af, bf)
}

// Messages returns the messages in channel that are not deleted, top-level
// and thread replies alike, in ts order.
func (s *Server) Messages(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if !m.Deleted {
			out = append(out, m.clone())
		}
	}
	return out
}

// History returns what the channel itself shows, as conversations.history
// would: messages that are not thread replies (or are broadcast replies),
// not deleted, in ts order.
func (s *Server) History(channel string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if !m.Deleted && (m.ThreadTS == "" || m.Broadcast) {
			out = append(out, m.clone())
		}
	}
	return out
}

// Thread returns the parent message ts in channel followed by its replies in
// ts order, leaving out deleted messages. It is empty when there is no such
// message.
func (s *Server) Thread(channel, ts string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.messages[channel] {
		if !m.Deleted && (m.TS == ts || m.ThreadTS == ts) {
			out = append(out, m.clone())
		}
	}
	return out
}

// Message returns the message ts in channel, deleted or not.
func (s *Server) Message(channel, ts string) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(channel, ts)
	if m == nil {
		return Message{}, false
	}
	return m.clone(), true
}

// Ephemerals returns the ephemeral messages shown to user, oldest first;
// with user "" all of them.
func (s *Server) Ephemerals(user string) []Ephemeral {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ephemeral
	for _, e := range s.ephemerals {
		if user == "" || e.User == user {
			out = append(out, e)
		}
	}
	return out
}

// AddUser makes users.info know u (replacing an earlier entry).
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	uc := u
	s.users[u.ID] = &uc
	s.notifyLocked()
}

// AddChannel makes conversations.info answer with c (replacing an earlier
// entry). Channels that are not added still work: any ID that looks like one
// (C, G or D and upper-case letters or digits) is accepted everywhere, and a D
// channel is a direct message.
func (s *Server) AddChannel(c Channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cc := c
	s.channels[c.ID] = &cc
	s.notifyLocked()
}

// SetUserGroup sets the members usergroups.users.list returns for the group
// (an S… ID).
func (s *Server) SetUserGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.usergroups[id] = slices.Clone(members)
	s.notifyLocked()
}

// ensureUserLocked adds a user the Send helpers name, unless known.
func (s *Server) ensureUserLocked(id, name string) {
	if id == "" || s.users[id] != nil {
		return
	}
	if name == "" {
		name = strings.ToLower(id)
	}
	s.users[id] = &User{ID: id, Name: name, RealName: name}
}

// ensureChannelLocked adds a channel seen in traffic, unless known.
func (s *Server) ensureChannelLocked(id, name string) *Channel {
	if c := s.channels[id]; c != nil {
		return c
	}
	if name == "" {
		name = strings.ToLower(id)
	}
	c := &Channel{ID: id, Name: name, IsIM: strings.HasPrefix(id, "D"), IsPrivate: strings.HasPrefix(id, "G")}
	s.channels[id] = c
	return c
}
