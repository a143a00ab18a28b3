package slackserver

import (
	"net/http"
	"net/url"
	"time"
)

// BlockAction is a click on a button in a message.
type BlockAction struct {
	Channel   string // DefaultChannel when empty
	MessageTS string // the message with the button
	User      string // DefaultUser when empty
	UserName  string
	ActionID  string
	// BlockID, Value and Text are taken from the message's button with
	// ActionID when left empty. A button the message no longer has can
	// still be clicked (a person's client may show an old version).
	BlockID     string
	Value       string
	Text        string
	TriggerID   string // made up when empty
	ResponseURL string // on this server when empty
}

// SendBlockAction delivers an interactive envelope of type block_actions for
// the click, carrying the message as the server holds it.
func (s *Server) SendBlockAction(a BlockAction) Envelope {
	a.Channel = or(a.Channel, DefaultChannel)
	a.User = or(a.User, DefaultUser)
	s.mu.Lock()
	s.ensureUserLocked(a.User, a.UserName)
	userName := s.users[a.User].Name
	channel := s.ensureChannelLocked(a.Channel, "")
	message := map[string]any{"type": "message", "ts": a.MessageTS}
	threadTS := ""
	if m := s.findLocked(a.Channel, a.MessageTS); m != nil {
		message = messageJSON(m)
		threadTS = m.ThreadTS
		for _, b := range m.Buttons() {
			if b.ActionID == a.ActionID {
				a.BlockID = or(a.BlockID, b.BlockID)
				a.Value = or(a.Value, b.Value)
				a.Text = or(a.Text, b.Text)
				break
			}
		}
	}
	if a.BlockID == "" {
		a.BlockID = randomHex(3)
	}
	a.TriggerID = or(a.TriggerID, s.triggerIDLocked())
	if a.ResponseURL == "" {
		a.ResponseURL = s.newResponseURLLocked(responseURL{
			kind: TypeInteractive, channel: a.Channel, user: a.User, messageTS: a.MessageTS, threadTS: threadTS,
		})
	}
	actionTS := s.nextTSLocked()
	s.mu.Unlock()

	container := map[string]any{
		"type":         "message",
		"message_ts":   a.MessageTS,
		"channel_id":   a.Channel,
		"is_ephemeral": false,
	}
	if threadTS != "" {
		container["thread_ts"] = threadTS
	}
	payload := mustJSON(map[string]any{
		"type":                  "block_actions",
		"user":                  map[string]any{"id": a.User, "username": userName, "name": userName, "team_id": TeamID},
		"api_app_id":            AppID,
		"token":                 VerificationToken,
		"container":             container,
		"trigger_id":            a.TriggerID,
		"team":                  map[string]any{"id": TeamID, "domain": TeamDomain},
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": channel.ID, "name": channel.Name},
		"message":               message,
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          a.ResponseURL,
		"actions": []map[string]any{{
			"action_id": a.ActionID,
			"block_id":  a.BlockID,
			"text":      map[string]any{"type": "plain_text", "text": a.Text, "emoji": true},
			"value":     a.Value,
			"type":      "button",
			"action_ts": actionTS,
		}},
	})
	return s.send(&Envelope{Type: TypeInteractive, Payload: payload})
}

// responseURL is what a response_url stands for.
type responseURL struct {
	kind      string // TypeSlashCommands or TypeInteractive
	channel   string
	user      string
	messageTS string // interactive: the message with the button
	threadTS  string
}

// MaxResponseURLUses is how often a response_url may be used, as with Slack.
const MaxResponseURLUses = 5

func (s *Server) newResponseURLLocked(r responseURL) string {
	id := s.nextIDLocked("R") + randomHex(8)
	rc := r
	s.responses[id] = &rc
	return s.base + "/response/" + id
}

// ResponsePost is a post to a response_url, and what it did.
type ResponsePost struct {
	URL string
	// Kind is TypeSlashCommands or TypeInteractive: what the URL came with.
	Kind            string
	Channel, User   string
	ResponseType    string // "ephemeral" (the default) or "in_channel"
	ReplaceOriginal bool
	DeleteOriginal  bool
	Text            string
	Blocks          string
	ThreadTS        string
	At              time.Time
	// Error is the Slack error the post was answered with, "" when it
	// took effect.
	Error string
}

// ResponsePosts returns the posts to response URLs, oldest first.
func (s *Server) ResponsePosts() []ResponsePost {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ResponsePost(nil), s.posts...)
}

// serveResponseURL applies a post to a response_url: an ephemeral message to
// the person (the default), an in_channel message, or for an interaction a
// replacement or deletion of the message with the button.
func (s *Server) serveResponseURL(w http.ResponseWriter, r *http.Request) {
	req, err := parseAPIRequest(ResponseURLMethod, r)
	var rep reply
	switch {
	case err != nil:
		rep = errJSON("invalid_payload", err.Error())
	case r.Method != http.MethodPost:
		rep = errJSON("invalid_payload", "post JSON to a response_url")
	default:
		if f := s.takeFault(ResponseURLMethod); f != nil {
			rep = f.reply()
		} else {
			rep = s.respond(r.PathValue("id"), req)
		}
	}
	if req == nil {
		req = &apiRequest{method: ResponseURLMethod, args: url.Values{}, at: time.Now()}
	}
	s.record(req, rep)
	writeReply(w, rep)
}

func (s *Server) respond(id string, req *apiRequest) reply {
	post := ResponsePost{
		URL:             s.base + "/response/" + id,
		ResponseType:    or(req.args.Get("response_type"), "ephemeral"),
		ReplaceOriginal: req.args.Get("replace_original") == "true",
		DeleteOriginal:  req.args.Get("delete_original") == "true",
		Text:            truncateText(req.args.Get("text")),
		Blocks:          normalizeJSONArray(req.args.Get("blocks")),
		ThreadTS:        req.args.Get("thread_ts"),
		At:              req.at,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := s.applyResponseLocked(id, &post)
	post.Error = rep.errCode
	s.posts = append(s.posts, post)
	s.notifyLocked()
	return rep
}

func (s *Server) applyResponseLocked(id string, post *ResponsePost) reply {
	target := s.responses[id]
	if target == nil {
		return errJSON("invalid_response_url")
	}
	post.Kind, post.Channel, post.User = target.kind, target.channel, target.user
	if s.countUsesLocked(post.URL) >= MaxResponseURLUses {
		return errJSON("used_url")
	}
	if e := validateBlocks(post.Blocks); e != nil {
		return errJSON(e.code, e.detail)
	}
	original := s.findLocked(target.channel, target.messageTS)
	switch {
	case post.DeleteOriginal && target.kind == TypeInteractive:
		if original == nil || original.Deleted {
			return errJSON("message_not_found")
		}
		original.Deleted = true
		return okJSON(nil)
	case post.Text == "" && post.Blocks == "":
		return errJSON("no_text")
	case post.ReplaceOriginal && target.kind == TypeInteractive:
		if original == nil || original.Deleted {
			return errJSON("message_not_found")
		}
		s.editLocked(original, content{text: post.Text, blocks: post.Blocks, hasText: true, hasBlocks: true}, post.At)
		return okJSON(nil)
	}
	threadTS := or(post.ThreadTS, target.threadTS)
	if threadTS != "" {
		p, bad := s.resolveThreadLocked(target.channel, threadTS)
		if bad != nil {
			return *bad
		}
		threadTS = p
	}
	if post.ResponseType == "in_channel" {
		s.addMessageLocked(&Message{
			Channel: target.channel, TS: s.nextTSLocked(), ThreadTS: threadTS,
			User: BotUserID, BotID: BotID, Text: post.Text, Blocks: post.Blocks, Posted: post.At,
		})
		return okJSON(nil)
	}
	s.ephemerals = append(s.ephemerals, Ephemeral{
		Channel: target.channel, User: target.user, TS: s.nextTSLocked(), ThreadTS: threadTS,
		Text: post.Text, Blocks: post.Blocks, At: post.At, Via: ResponseURLMethod,
	})
	return okJSON(nil)
}

func (s *Server) countUsesLocked(u string) int {
	n := 0
	for _, p := range s.posts {
		if p.URL == u && p.Error == "" {
			n++
		}
	}
	return n
}
