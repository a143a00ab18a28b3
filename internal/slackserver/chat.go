package slackserver

import (
	"encoding/json"
	"time"
)

// content is the text, blocks and attachments of a post or an update.
type content struct {
	text, blocks, attachments string
	hasText, hasBlocks        bool
	hasAttachments            bool
}

// readContent takes the content arguments and checks them against Slack's
// limits. A non-empty blocks argument of "[]" means "no blocks".
func readContent(req *apiRequest) (content, *reply) {
	var c content
	_, c.hasText = req.args["text"]
	_, c.hasBlocks = req.args["blocks"]
	_, c.hasAttachments = req.args["attachments"]
	c.text = truncateText(req.args.Get("text"))
	c.blocks = normalizeJSONArray(req.args.Get("blocks"))
	c.attachments = normalizeJSONArray(req.args.Get("attachments"))
	if e := validateBlocks(c.blocks); e != nil {
		r := errJSON(e.code, e.detail)
		return c, &r
	}
	if c.attachments != "" && !json.Valid([]byte(c.attachments)) {
		r := errJSON("invalid_attachments")
		return c, &r
	}
	return c, nil
}

// normalizeJSONArray maps the "no value" spellings of an array to "".
func normalizeJSONArray(s string) string {
	switch s {
	case "", "null", "[]":
		return ""
	}
	return s
}

func (c content) empty() bool {
	return c.text == "" && c.blocks == "" && c.attachments == ""
}

// channelArg returns the channel argument, or the error reply for it.
func channelArg(req *apiRequest) (string, *reply) {
	ch := req.args.Get("channel")
	if !isChannelID(ch) {
		r := errJSON("channel_not_found")
		return "", &r
	}
	return ch, nil
}

func (s *Server) chatPostMessage(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	c, bad := readContent(req)
	if bad != nil {
		return *bad
	}
	if c.empty() {
		return errJSON("no_text")
	}
	meta, bad := readMetadata(req)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.channels[ch]; c != nil && c.NotMember {
		return errJSON("not_in_channel")
	}
	threadTS, bad := s.resolveThreadLocked(ch, req.args.Get("thread_ts"))
	if bad != nil {
		return *bad
	}
	m := &Message{
		Metadata:    meta,
		Channel:     ch,
		TS:          s.nextTSLocked(),
		ThreadTS:    threadTS,
		User:        BotUserID,
		BotID:       BotID,
		Text:        c.text,
		Blocks:      c.blocks,
		Attachments: c.attachments,
		Broadcast:   threadTS != "" && req.args.Get("reply_broadcast") == "true",
		Posted:      req.at,
	}
	s.addMessageLocked(m)
	return okJSON(map[string]any{"channel": ch, "ts": m.TS, "message": messageJSON(m)})
}

// resolveThreadLocked maps a thread_ts argument to the thread's parent ts:
// a reply's ts stands for its thread. An unknown ts is thread_not_found
// (stricter than Slack, so a wrong ts shows up in tests).
func (s *Server) resolveThreadLocked(channel, threadTS string) (string, *reply) {
	if threadTS == "" {
		return "", nil
	}
	parent := s.findLocked(channel, threadTS)
	if parent == nil {
		r := errJSON("thread_not_found")
		return "", &r
	}
	if parent.ThreadTS != "" {
		return parent.ThreadTS, nil
	}
	return parent.TS, nil
}

func (s *Server) chatUpdate(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	c, bad := readContent(req)
	if bad != nil {
		return *bad
	}
	if !c.hasText && !c.hasBlocks && !c.hasAttachments {
		return errJSON("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(ch, req.args.Get("ts"))
	if m == nil || m.Deleted {
		return errJSON("message_not_found")
	}
	if !m.FromBot() {
		return errJSON("cant_update_message")
	}
	s.editLocked(m, c, req.at)
	return okJSON(map[string]any{"channel": ch, "ts": m.TS, "text": m.Text, "message": messageJSON(m)})
}

// editLocked applies an update: arguments that were sent replace what the
// message had; blocks and attachments that were not sent are kept.
func (s *Server) editLocked(m *Message, c content, at time.Time) {
	if c.hasText {
		m.Text = c.text
	}
	if c.hasBlocks {
		m.Blocks = c.blocks
	}
	if c.hasAttachments {
		m.Attachments = c.attachments
	}
	m.Revisions = append(m.Revisions, Revision{Text: m.Text, Blocks: m.Blocks, At: at})
	s.notifyLocked()
}

func (s *Server) chatDelete(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(ch, req.args.Get("ts"))
	if m == nil || m.Deleted {
		return errJSON("message_not_found")
	}
	if !m.FromBot() {
		return errJSON("cant_delete_message")
	}
	m.Deleted = true
	s.notifyLocked()
	return okJSON(map[string]any{"channel": ch, "ts": m.TS})
}

func (s *Server) chatPostEphemeral(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	user := req.args.Get("user")
	if user == "" {
		return errJSON("user_not_found")
	}
	c, bad := readContent(req)
	if bad != nil {
		return *bad
	}
	if c.empty() {
		return errJSON("no_text")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	threadTS, bad := s.resolveThreadLocked(ch, req.args.Get("thread_ts"))
	if bad != nil {
		return *bad
	}
	e := Ephemeral{
		Channel:  ch,
		User:     user,
		TS:       s.nextTSLocked(),
		ThreadTS: threadTS,
		Text:     c.text,
		Blocks:   c.blocks,
		At:       req.at,
		Via:      "chat.postEphemeral",
	}
	s.ephemerals = append(s.ephemerals, e)
	s.ensureChannelLocked(ch, "")
	s.notifyLocked()
	return okJSON(map[string]any{"message_ts": e.TS})
}

func (s *Server) reactionsAdd(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	name := req.args.Get("name")
	if name == "" {
		return errJSON("invalid_name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.findLocked(ch, req.args.Get("timestamp"))
	if m == nil || m.Deleted {
		return errJSON("message_not_found")
	}
	for _, r := range m.Reactions {
		if r.Name == name && r.User == BotUserID {
			return errJSON("already_reacted")
		}
	}
	m.Reactions = append(m.Reactions, Reaction{Name: name, User: BotUserID})
	s.notifyLocked()
	return okJSON(nil)
}

// messageJSON is a message as Slack returns it in API answers and payloads.
func messageJSON(m *Message) map[string]any {
	out := map[string]any{
		"type": "message",
		"text": m.Text,
		"user": m.User,
		"ts":   m.TS,
		"team": TeamID,
	}
	if m.BotID != "" {
		out["bot_id"] = m.BotID
		out["app_id"] = AppID
	}
	if m.ThreadTS != "" {
		out["thread_ts"] = m.ThreadTS
	}
	if m.Blocks != "" {
		out["blocks"] = json.RawMessage(m.Blocks)
	}
	if m.Attachments != "" {
		out["attachments"] = json.RawMessage(m.Attachments)
	}
	if len(m.Revisions) > 1 {
		last := m.Revisions[len(m.Revisions)-1]
		out["edited"] = map[string]any{"user": m.User, "ts": formatTS(last.At.UnixMicro())}
	}
	if len(m.Files) > 0 {
		files := make([]map[string]any, len(m.Files))
		for i, id := range m.Files {
			files[i] = map[string]any{"id": id}
		}
		out["files"] = files
	}
	return out
}
