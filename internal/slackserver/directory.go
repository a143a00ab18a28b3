package slackserver

import (
	"maps"
	"slices"
	"strings"
)

func (s *Server) authTest(*apiRequest) reply {
	return okJSON(map[string]any{
		"url":                   "https://" + TeamDomain + ".slack.com/",
		"team":                  TeamName,
		"user":                  BotName,
		"team_id":               TeamID,
		"user_id":               BotUserID,
		"bot_id":                BotID,
		"is_enterprise_install": false,
	})
}

func (s *Server) usersInfo(req *apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.users[req.args.Get("user")]
	if u == nil {
		return errJSON("user_not_found")
	}
	return okJSON(map[string]any{"user": map[string]any{
		"id":        u.ID,
		"team_id":   TeamID,
		"name":      u.Name,
		"real_name": u.RealName,
		"deleted":   u.Deleted,
		"is_admin":  u.IsAdmin,
		"is_bot":    u.IsBot,
		"profile": map[string]any{
			"real_name":    u.RealName,
			"display_name": u.DisplayName,
			"team":         TeamID,
		},
	}})
}

// usersLookupByEmail finds the user whose email is the email argument, as
// Slack does for a bot with users:read.email.
func (s *Server) usersLookupByEmail(req *apiRequest) reply {
	email := strings.TrimSpace(req.args.Get("email"))
	if email == "" {
		return errJSON("invalid_arguments")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range slices.Sorted(maps.Keys(s.users)) {
		u := s.users[id]
		if u.Email != "" && strings.EqualFold(u.Email, email) && !u.Deleted {
			return okJSON(map[string]any{"user": map[string]any{
				"id": u.ID, "team_id": TeamID, "name": u.Name, "real_name": u.RealName, "is_bot": u.IsBot,
				"profile": map[string]any{"real_name": u.RealName, "display_name": u.DisplayName, "email": u.Email, "team": TeamID},
			}})
		}
	}
	return errJSON("users_not_found")
}

func (s *Server) conversationsInfo(req *apiRequest) reply {
	ch, bad := channelArg(req)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.ensureChannelLocked(ch, "")
	body := map[string]any{
		"id":              c.ID,
		"is_channel":      !c.IsIM && !c.IsPrivate,
		"is_group":        c.IsPrivate,
		"is_im":           c.IsIM,
		"is_private":      c.IsPrivate || c.IsIM,
		"is_member":       !c.NotMember,
		"context_team_id": TeamID,
	}
	if c.IsIM {
		body["user"] = c.User
	} else {
		body["name"] = c.Name
		body["name_normalized"] = c.Name
	}
	return okJSON(map[string]any{"channel": body})
}

func (s *Server) usergroupsUsersList(req *apiRequest) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	members, ok := s.usergroups[req.args.Get("usergroup")]
	if !ok {
		return errJSON("no_such_subteam")
	}
	if members == nil {
		members = []string{}
	}
	return okJSON(map[string]any{"users": members})
}
