package slackserver

import (
	"cmp"
	"encoding/base64"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxListLimit is the most items users.list and conversations.list give in
// one page, as Slack caps their limit argument.
const MaxListLimit = 1000

// page cuts items to the page that the request's cursor and limit ask
// for, as Slack pages its lists: limit items (def when limit is absent or
// 0, at most MaxListLimit) from an opaque cursor, and next_cursor while
// more remain ("" on the last page). A cursor this server did not give
// answers invalid_cursor.
func page[T any](req *apiRequest, kind string, items []T, def int) (out []T, next string, bad *reply) {
	limit := def
	if l := req.args.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			r := errJSON("invalid_limit")
			return nil, "", &r
		}
		if n > 0 {
			limit = n
		}
	}
	if limit <= 0 {
		limit = len(items) // no limit: everything at once
	}
	limit = min(limit, MaxListLimit)
	from := 0
	if c := req.args.Get("cursor"); c != "" {
		raw, err := base64.StdEncoding.DecodeString(c)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(raw), kind+":"))
		if err != nil || err2 != nil || !strings.HasPrefix(string(raw), kind+":") || n < 0 || n > len(items) {
			r := errJSON("invalid_cursor")
			return nil, "", &r
		}
		from = n
	}
	to := min(from+limit, len(items))
	if to < len(items) {
		next = base64.StdEncoding.EncodeToString([]byte(kind + ":" + strconv.Itoa(to)))
	}
	return items[from:to], next, nil
}

// usersList answers users.list: every user AddUser or the Send helpers
// made, deleted ones and bots included as Slack lists them, by ID, a page
// at a time (limit: no default, everything; Slack recommends 200).
func (s *Server) usersList(req *apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	users := make([]map[string]any, 0, len(s.users))
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		u := s.users[id]
		users = append(users, map[string]any{
			"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.RealName,
			"deleted": u.Deleted, "is_admin": u.IsAdmin, "is_bot": u.IsBot,
			"profile": map[string]any{
				"real_name": u.RealName, "real_name_normalized": u.RealName,
				"display_name": u.DisplayName, "display_name_normalized": u.DisplayName, "team": TeamID,
			},
		})
	}
	p, next, bad := page(req, "user", users, 0)
	if bad != nil {
		return *bad
	}
	return okJSON(map[string]any{"members": p, "cache_ts": req.at.Unix(), "response_metadata": map[string]any{"next_cursor": next}})
}

// conversationsList answers conversations.list for a bot token: the
// channels of the types asked for (public_channel, private_channel, im,
// mpim; default public_channel), private ones only where the bot is a
// member, archived ones unless exclude_archived, by ID, 100 a page unless
// limit says.
func (s *Server) conversationsList(req *apiRequest) reply {
	types := map[string]bool{}
	for _, t := range strings.Split(cmp.Or(req.args.Get("types"), "public_channel"), ",") {
		switch t = strings.TrimSpace(t); t {
		case "public_channel", "private_channel", "im", "mpim":
			types[t] = true
		default:
			return errJSON("invalid_types")
		}
	}
	noArchived := isTrue(req.args.Get("exclude_archived"))
	s.mu.Lock()
	defer s.mu.Unlock()
	chans := []map[string]any{}
	for _, id := range slices.Sorted(maps.Keys(s.channels)) {
		c := s.channels[id]
		kind := "public_channel"
		switch {
		case c.IsIM:
			kind = "im"
		case c.IsPrivate:
			kind = "private_channel"
		}
		if !types[kind] || (c.IsPrivate && c.NotMember) || (noArchived && c.Archived) {
			continue
		}
		body := map[string]any{
			"id": c.ID, "is_channel": kind == "public_channel", "is_group": kind == "private_channel", "is_im": c.IsIM,
			"is_private": kind != "public_channel", "is_member": !c.NotMember, "is_archived": c.Archived,
			"context_team_id": TeamID,
		}
		if c.IsIM {
			body["user"] = c.User
		} else {
			body["name"], body["name_normalized"] = c.Name, c.Name
		}
		chans = append(chans, body)
	}
	p, next, bad := page(req, "channel", chans, 100)
	if bad != nil {
		return *bad
	}
	return okJSON(map[string]any{"channels": p, "response_metadata": map[string]any{"next_cursor": next}})
}
