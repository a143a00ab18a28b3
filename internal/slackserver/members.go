package slackserver

import (
	"slices"
	"strconv"
)

// conversationsMembers answers conversations.members: the channel's
// Members, a page of `limit` (default 100) at a time from `cursor`, with
// next_cursor in response_metadata while more remain, as Slack pages it.
// A channel the bot is not in answers channel_not_found.
func (s *Server) conversationsMembers(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.ensureChannelLocked(ch, "")
	if c.NotMember && c.IsPrivate {
		return errJSON("channel_not_found")
	}
	limit, err := strconv.Atoi(req.args.Get("limit"))
	if err != nil || limit <= 0 {
		limit = 100
	}
	from, _ := strconv.Atoi(req.args.Get("cursor"))
	members := slices.Clone(c.Members)
	if from > len(members) {
		from = len(members)
	}
	page := members[from:min(from+limit, len(members))]
	next := ""
	if from+limit < len(members) {
		next = strconv.Itoa(from + limit)
	}
	if page == nil {
		page = []string{}
	}
	return okJSON(map[string]any{"members": page, "response_metadata": map[string]any{"next_cursor": next}})
}
