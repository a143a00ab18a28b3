package slackserver

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// readMetadata takes the metadata argument of chat.postMessage: a JSON
// object with an event_type and an event_payload object, as Slack requires.
func readMetadata(req *apiRequest) (string, *reply) {
	raw := req.args.Get("metadata")
	if raw == "" || raw == "null" {
		return "", nil
	}
	var m struct {
		EventType    string          `json:"event_type"`
		EventPayload json.RawMessage `json:"event_payload"`
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		r := errJSON("invalid_metadata_format", "[ERROR] metadata is not a JSON object: "+err.Error())
		return "", &r
	}
	if m.EventType == "" {
		r := errJSON("invalid_metadata_schema", "[ERROR] missing required field: event_type")
		return "", &r
	}
	if len(m.EventPayload) > 0 && m.EventPayload[0] != '{' {
		r := errJSON("invalid_metadata_schema", "[ERROR] event_payload must be an object")
		return "", &r
	}
	return raw, nil
}

// historyWindow reads the oldest, latest, inclusive, limit and cursor
// arguments that conversations.history and conversations.replies share.
type historyWindow struct {
	oldest, latest string
	inclusive      bool
	limit, offset  int
	metadata       bool
}

func readWindow(req *apiRequest) historyWindow {
	w := historyWindow{
		oldest:    req.args.Get("oldest"),
		latest:    req.args.Get("latest"),
		inclusive: isTrue(req.args.Get("inclusive")),
		limit:     100,
		metadata:  isTrue(req.args.Get("include_all_metadata")),
	}
	if n, err := strconv.Atoi(req.args.Get("limit")); err == nil && n > 0 {
		w.limit = min(n, 1000)
	}
	if c, ok := strings.CutPrefix(req.args.Get("cursor"), "offset:"); ok {
		w.offset, _ = strconv.Atoi(c)
	}
	return w
}

func isTrue(v string) bool { return v == "1" || v == "true" }

// contains reports whether ts falls in the window.
func (w historyWindow) contains(ts string) bool {
	if w.oldest != "" {
		if c := compareTS(ts, w.oldest); c < 0 || (c == 0 && !w.inclusive) {
			return false
		}
	}
	if w.latest != "" {
		if c := compareTS(ts, w.latest); c > 0 || (c == 0 && !w.inclusive) {
			return false
		}
	}
	return true
}

// page answers with one page of msgs, already in the order Slack gives.
func (w historyWindow) page(msgs []*Message) reply {
	start := min(w.offset, len(msgs))
	end := min(start+w.limit, len(msgs))
	out := make([]map[string]any, 0, end-start)
	for _, m := range msgs[start:end] {
		j := messageJSON(m)
		if w.metadata && m.Metadata != "" {
			j["metadata"] = json.RawMessage(m.Metadata)
		}
		out = append(out, j)
	}
	more := end < len(msgs)
	next := ""
	if more {
		next = "offset:" + strconv.Itoa(end)
	}
	return okJSON(map[string]any{
		"messages":          out,
		"has_more":          more,
		"response_metadata": map[string]any{"next_cursor": next},
	})
}

// conversationsHistory answers with the channel's top-level messages (and
// broadcast replies), newest first. Message metadata is included only with
// include_all_metadata, as with Slack.
func (s *Server) conversationsHistory(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	w := readWindow(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	var msgs []*Message
	list := s.messages[ch]
	for i := len(list) - 1; i >= 0; i-- {
		m := list[i]
		if !m.Deleted && (m.ThreadTS == "" || m.Broadcast) && w.contains(m.TS) {
			msgs = append(msgs, m)
		}
	}
	return w.page(msgs)
}

// conversationsReplies answers with a thread: its parent, then the replies
// oldest first. ts may name the parent or any reply.
func (s *Server) conversationsReplies(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	w := readWindow(req)
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, bad := s.resolveThreadLocked(ch, req.args.Get("ts"))
	if bad != nil {
		return *bad
	}
	var msgs []*Message
	for _, m := range s.messages[ch] {
		if m.Deleted || (m.TS != parent && m.ThreadTS != parent) {
			continue
		}
		// Slack always returns the parent first; the window applies to replies.
		if m.TS == parent || w.contains(m.TS) {
			msgs = append(msgs, m)
		}
	}
	return w.page(msgs)
}

// SetUserGroupHandle gives the user group id a handle ("releasers" for
// @releasers), which usergroups.list reports.
func (s *Server) SetUserGroupHandle(id, handle string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handles[id] = handle
	if _, ok := s.usergroups[id]; !ok {
		s.usergroups[id] = nil
	}
	s.notifyLocked()
}

// usergroupsList answers with every user group SetUserGroup or
// SetUserGroupHandle made.
func (s *Server) usergroupsList(req *apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	withUsers := isTrue(req.args.Get("include_users"))
	groups := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(s.usergroups)) {
		members := s.usergroups[id]
		handle := s.handles[id]
		if handle == "" {
			handle = strings.ToLower(id)
		}
		g := map[string]any{"id": id, "team_id": TeamID, "handle": handle, "name": handle, "is_usergroup": true}
		if withUsers {
			users := members
			if users == nil {
				users = []string{}
			}
			g["users"] = users
			g["user_count"] = len(users)
		}
		groups = append(groups, g)
	}
	return okJSON(map[string]any{"usergroups": groups})
}
