package spec

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// NameKind says what a name written in gantry.yml stands for.
type NameKind int

const (
	// NamePerson is @name where a person is asked for (admins, deployers,
	// approvers, builders): a Slack user, or a user group by its handle.
	NamePerson NameKind = iota
	// NameUser is @name where only a user will do (the values of users:).
	NameUser
	// NameChannel is #name: a Slack channel.
	NameChannel
)

// Name is a person, user group or channel written by name in gantry.yml
// (@alice, @releasers, #deploys) rather than by its Slack ID. ParseServer
// keeps them as written; ResolveNames turns them into IDs.
type Name struct {
	Text    string // as written, with its @ or #
	Kind    NameKind
	Line    int    // where it is written
	Subject string // what it is written in: `approvers in environment "prod"`
}

var (
	// personNameRE is @ and a Slack handle or display name: letters,
	// digits, spaces and punctuation, without control characters or the
	// <>@# of Slack's markup.
	personNameRE = regexp.MustCompile(`^@[^\s<>@#*][^<>@#*]{0,79}$`)
	// channelNameRE is # and a Slack channel name: lower-case letters,
	// digits, - and _, at most 80.
	channelNameRE = regexp.MustCompile(`^#[\p{Ll}\p{Lo}\p{N}_-][\p{Ll}\p{Lo}\p{N}._-]{0,79}$`)
)

const channelRule = "a Slack channel ID (C…, G…) or #name"

// isPersonName reports whether s is a person written as @name.
func isPersonName(s string) bool {
	return personNameRE.MatchString(s) && !strings.HasSuffix(s, " ") && !strings.ContainsFunc(s, unicode.IsControl)
}

// isChannelName reports whether s is a channel written as #name.
func isChannelName(s string) bool { return channelNameRE.MatchString(s) }

// validChannel reports whether s is a channel ID or #name.
func validChannel(s string) bool { return channelRE.MatchString(s) || isChannelName(s) }

// noteName records s as a name to resolve when it is one.
func (d *decoder) noteName(s string, kind NameKind, line int, subject string) {
	if strings.HasPrefix(s, "@") || strings.HasPrefix(s, "#") {
		d.names = append(d.names, Name{Text: s, Kind: kind, Line: line, Subject: subject})
	}
}

// Names are the persons, groups and channels the config writes by name,
// in the order of the file; none once resolved.
func (s *Server) Names() []Name { return slices.Clone(s.names) }

// Workspace is what names are matched against: a Slack workspace's
// people, user groups and channels (users.list, usergroups.list,
// conversations.list).
type Workspace struct {
	Users    []WorkspaceUser
	Groups   []WorkspaceGroup
	Channels []WorkspaceChannel
}

// WorkspaceUser is one person of a workspace. Deleted users and bots are
// left out by whoever fills a Workspace.
type WorkspaceUser struct {
	ID          string
	Handle      string // users.list's name
	DisplayName string // "" when they chose none
}

// WorkspaceGroup is one user group.
type WorkspaceGroup struct{ ID, Handle string }

// WorkspaceChannel is one channel gantry can see.
type WorkspaceChannel struct{ ID, Name string }

// NeedsWorkspace says which lists ResolveNames will look in: people (users
// and user groups) for @names, channels for #names.
func (s *Server) NeedsWorkspace() (people, channels bool) {
	for _, n := range s.names {
		if n.Kind == NameChannel {
			channels = true
		} else {
			people = true
		}
	}
	return people, channels
}

// ResolveNames returns the config with every name replaced by the ID it
// stands for in w. A name w does not know, or knows more than once, is a
// problem at its line; any problem makes it return an *Error listing them
// all, and no config.
//
// A person is matched by their handle, then by their display name, without
// regard to case; a user group by its handle; a channel by its name.
func (s *Server) ResolveNames(w *Workspace) (*Server, error) {
	ps := problems{file: s.file}
	ids := map[Name]string{}
	for _, n := range s.names {
		id, msg := w.lookup(n)
		if msg != "" {
			ps.addf(n.Line, "%s: %s", n.Subject, msg)
			continue
		}
		ids[Name{Text: n.Text, Kind: n.Kind}] = id
	}
	out := s.replaceNames(func(text string, kind NameKind) string {
		if id, ok := ids[Name{Text: text, Kind: kind}]; ok {
			return id
		}
		return text
	})
	s.checkBoundTwice(out, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ConsoleNames returns the config as the console reads it, with no Slack to
// ask: @alice is the console's user alice ($USER), and #channels are kept
// as written (the console has one conversation, bound to no channel).
func (s *Server) ConsoleNames() *Server {
	return s.replaceNames(func(text string, kind NameKind) string {
		if kind != NameChannel {
			return strings.TrimPrefix(text, "@")
		}
		return text
	})
}

// checkBoundTwice finds a channel that two repos name in different ways
// (#deploys and its ID) once both are IDs.
func (s *Server) checkBoundTwice(out *Server, ps *problems) {
	boundTo := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(out.Repos)) {
		c := out.Repos[name].Channel
		if c == "" {
			continue
		}
		if other, ok := boundTo[c]; ok {
			line := 0
			for _, n := range s.names {
				if n.Kind == NameChannel && (n.Text == s.Repos[name].Channel || n.Text == s.Repos[other].Channel) {
					line = max(line, n.Line)
				}
			}
			ps.addf(line, "channel in repo %q: %s and %s are the same channel (%s): a channel has one default repo",
				name, s.Repos[other].Channel, s.Repos[name].Channel, c)
			continue
		}
		boundTo[c] = name
	}
}

// replaceNames returns a copy of the config with every person, group and
// channel passed through f; the copy keeps no names.
func (s *Server) replaceNames(f func(text string, kind NameKind) string) *Server {
	out := *s
	out.names = nil
	persons := func(in []string) []string {
		var ps []string
		for _, p := range in {
			if p = f(p, NamePerson); !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
		return ps
	}
	out.Admins = persons(s.Admins)
	out.Repos = make(map[string]Repo, len(s.Repos))
	for name, r := range s.Repos {
		r.Builders = persons(r.Builders)
		if r.Channel != "" {
			r.Channel = f(r.Channel, NameChannel)
		}
		out.Repos[name] = r
	}
	out.Environments = make(map[string]Environment, len(s.Environments))
	for name, e := range s.Environments {
		e.Deployers, e.Approvers = persons(e.Deployers), persons(e.Approvers)
		out.Environments[name] = e
	}
	if s.Users != nil {
		out.Users = make(map[string]string, len(s.Users))
		for login, u := range s.Users {
			out.Users[login] = f(u, NameUser)
		}
	}
	out.Web.PublicChannels = nil
	for _, c := range s.Web.PublicChannels {
		out.Web.PublicChannels = append(out.Web.PublicChannels, f(c, NameChannel))
	}
	out.Schedules = make([]Schedule, len(s.Schedules))
	for i, sc := range s.Schedules {
		sc.Channel = f(sc.Channel, NameChannel)
		out.Schedules[i] = sc
	}
	return &out
}

// candidate is a person or group a name may stand for.
type candidate struct {
	id, what string
	user     WorkspaceUser // the person; zero for a group
}

// matches are the people (and, for a person, groups) whose handle is n,
// and the people whose display name is n, without regard to case.
func (w *Workspace) matches(n Name) (byHandle, byDisplay []candidate) {
	name := strings.TrimPrefix(n.Text, "@")
	for _, u := range w.Users {
		switch {
		case strings.EqualFold(u.Handle, name):
			byHandle = append(byHandle, candidate{u.ID, "user @" + u.Handle, u})
		case u.DisplayName != "" && strings.EqualFold(u.DisplayName, name):
			byDisplay = append(byDisplay, candidate{u.ID, fmt.Sprintf("user @%s (%q)", u.Handle, u.DisplayName), u})
		}
	}
	if n.Kind == NamePerson {
		for _, g := range w.Groups {
			if strings.EqualFold(g.Handle, name) {
				byHandle = append(byHandle, candidate{id: g.ID, what: "user group @" + g.Handle})
			}
		}
	}
	return byHandle, byDisplay
}

// ByDisplayName lists, as "FILE:LINE: SUBJECT: …" lines, the names of s
// that w resolves by a display name alone. Their owner may change a
// display name, and someone else may take it up, so gantry says so at
// each start and reload: the handle or the ID does not move.
func (s *Server) ByDisplayName(w *Workspace) []string {
	var out []string
	for _, n := range s.names {
		if n.Kind == NameChannel {
			continue
		}
		byHandle, byDisplay := w.matches(n)
		if len(byHandle) == 0 && len(byDisplay) == 1 {
			u := byDisplay[0].user
			out = append(out, fmt.Sprintf("%s:%d: %s: %s is the display name of user @%s, which they (or, once they change it, someone else) may change; write @%s or %s", s.file, n.Line, n.Subject, n.Text, u.Handle, u.Handle, u.ID))
		}
	}
	return out
}

// lookup returns the ID n stands for, or the reason it has none.
func (w *Workspace) lookup(n Name) (id, problem string) {
	if n.Kind == NameChannel {
		return w.channel(n.Text)
	}
	name := strings.TrimPrefix(n.Text, "@")
	byHandle, byDisplay := w.matches(n)
	for _, found := range [][]candidate{byHandle, byDisplay} {
		switch len(found) {
		case 0:
			continue
		case 1:
			return found[0].id, ""
		}
		var list []string
		for _, c := range found {
			list = append(list, fmt.Sprintf("%s %s", c.what, c.id))
		}
		return "", fmt.Sprintf("%s could be any of %s: write the one you mean by its ID", n.Text, strings.Join(list, ", "))
	}
	what := "no Slack user or user group"
	if n.Kind == NameUser {
		what = "no Slack user"
	}
	var known []string
	for _, u := range w.Users {
		known = append(known, strings.ToLower(u.Handle))
		if u.DisplayName != "" {
			known = append(known, strings.ToLower(u.DisplayName))
		}
	}
	if n.Kind == NamePerson {
		for _, g := range w.Groups {
			known = append(known, strings.ToLower(g.Handle))
		}
	}
	msg := fmt.Sprintf("%s %s in this workspace (by handle or display name)", what, n.Text)
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf(" — did you mean @%s?", s)
	}
	return "", msg
}

func (w *Workspace) channel(text string) (id, problem string) {
	name := strings.TrimPrefix(text, "#")
	var names []string
	for _, c := range w.Channels {
		if c.Name == name {
			return c.ID, ""
		}
		names = append(names, c.Name)
	}
	msg := fmt.Sprintf("no Slack channel %s that gantry can see (a private channel must have gantry invited; an archived one is left out)", text)
	if s := suggest(name, names); s != "" {
		msg += fmt.Sprintf(" — did you mean #%s?", s)
	}
	return "", msg
}
