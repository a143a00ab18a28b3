package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// IsAdmin reports whether the person may do admin things. In the console
// the person at the keyboard is an admin.
func (s *Service) IsAdmin(ctx context.Context, r *Request) bool {
	return r.Console || s.cfg(ctx).IsAdmin(r.User)
}

// isOneOf reports whether the person is among people: "*" is everyone, a
// U… id is that person, an S… id is everyone in that user group.
func (s *Service) isOneOf(ctx context.Context, r *Request, people []string) (bool, error) {
	if r.Auto != "" {
		return true, nil // the server config's own request
	}
	return IsOneOf(ctx, s.groups, r.User, people)
}

// IsOneOf is the rule of isOneOf, for packages that share it.
func IsOneOf(ctx context.Context, groups Groups, user string, people []string) (bool, error) {
	for _, p := range people {
		if p == "*" || p == user {
			return true, nil
		}
	}
	for _, p := range people {
		if !strings.HasPrefix(p, "S") || groups == nil {
			continue
		}
		members, err := groups.Members(ctx, p)
		if err != nil {
			return false, fmt.Errorf("look up members of group %s: %w", p, err)
		}
		for _, m := range members {
			if m == user {
				return true, nil
			}
		}
	}
	return false, nil
}

// mayCancel applies DESIGN's rule: the requester, admins, and for a deploy
// the environment's deployers; a job with no requester (started by GitHub)
// may be cancelled by anyone who may run it.
func (s *Service) mayCancel(ctx context.Context, r *Request, j *jobs.Job) (bool, say.Text, error) {
	if s.IsAdmin(ctx, r) || (j.Requester != "" && j.Requester == r.User) {
		return true, "", nil
	}
	who := []say.Text{}
	if j.Requester != "" {
		who = append(who, "the requester "+Mention(j.Requester))
	}
	who = append(who, "admins")
	if j.Kind == jobs.Deploy {
		env := s.cfg(ctx).Environments[j.Env]
		ok, err := s.isOneOf(ctx, r, env.Deployers)
		if err != nil || ok {
			return ok, "", err
		}
		who = append(who, say.F("deployers of %s", j.Env))
	} else if j.Requester == "" {
		return true, "", nil // anyone may build
	}
	return false, say.Join(who, ", "), nil
}

// people writes a list of persons for a refusal.
func people(ps []string) say.Text {
	if len(ps) == 0 {
		return "nobody (none configured)"
	}
	out := make([]say.Text, len(ps))
	for i, p := range ps {
		switch {
		case p == "*":
			out[i] = "everyone"
		case strings.HasPrefix(p, "S"):
			out[i] = say.GroupOf(p)
		default:
			out[i] = Mention(p)
		}
	}
	return say.Join(out, ", ")
}
