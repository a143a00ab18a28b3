package commands

import (
	"context"
	"strings"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// Who may see a job (its log, status, page link and audit entries): the
// members of its channel, everyone who requested it, for a deploy the
// environment's deployers and approvers, and admins. Anyone else is told
// who may.

// mayView reports whether r's person may see j; when not, who says who may.
func (s *Service) mayView(ctx context.Context, r *Request, j *jobs.Job) (ok bool, who say.Text, err error) {
	if s.IsAdmin(ctx, r) || j.RequestedBy(r.User) {
		return true, "", nil
	}
	if j.Channel != "" && r.Channel == j.Channel {
		return true, "", nil // asked in the job's own channel, so a member of it
	}
	if j.Kind == jobs.Deploy {
		env := s.cfg(ctx).Environments[j.Env]
		people := append(append([]string{}, env.Deployers...), env.Approvers...)
		if ok, err := s.isOneOf(ctx, r, people); err != nil || ok {
			return ok, "", err
		}
	}
	if j.Channel != "" && s.channels != nil {
		in, err := s.channels.InChannel(ctx, j.Channel, r.User)
		if err != nil || in {
			return in, "", err
		}
	}
	return false, s.viewers(j), nil
}

// viewers writes who may see j, for a refusal.
func (s *Service) viewers(j *jobs.Job) say.Text {
	var who []say.Text
	if j.Channel != "" {
		who = append(who, "members of "+channelMention(j.Channel))
	}
	reqs := j.Requesters
	if len(reqs) == 0 && j.Requester != "" {
		reqs = []string{j.Requester}
	}
	if len(reqs) > 0 {
		ms := make([]say.Text, len(reqs))
		for i, u := range reqs {
			ms[i] = Mention(u)
		}
		who = append(who, "whoever requested it ("+say.Join(ms, ", ")+")")
	}
	if j.Kind == jobs.Deploy {
		who = append(who, say.F("deployers and approvers of %s", j.Env))
	}
	return say.Join(append(who, "admins"), ", ")
}

func channelMention(c string) say.Text {
	if strings.HasPrefix(c, "C") || strings.HasPrefix(c, "G") {
		return say.ChannelOf(c)
	}
	return say.Quote(c)
}

// visible finds job id (or the person's latest) and checks they may see it.
func (s *Service) visible(ctx context.Context, r *Request, id int64) (*jobs.Job, error) {
	j, err := s.job(ctx, r, id)
	if err != nil {
		return nil, err
	}
	ok, who, err := s.mayView(ctx, r, j)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, jobs.Userf("you may not see %s: it belongs to a conversation you are not in. Who may: %s", j.Name(), who)
	}
	return j, nil
}

// onlyVisible keeps the jobs r's person may see, and counts the rest.
func (s *Service) onlyVisible(ctx context.Context, r *Request, js []*jobs.Job) ([]*jobs.Job, int, error) {
	out := js[:0:0]
	hidden := 0
	for _, j := range js {
		ok, _, err := s.mayView(ctx, r, j)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			out = append(out, j)
		} else {
			hidden++
		}
	}
	return out, hidden, nil
}

// mayBuild applies the repo's builders: empty is anyone.
func (s *Service) mayBuild(ctx context.Context, r *Request, repo string) error {
	rc, ok := s.cfg(ctx).Repos[repo]
	if !ok || len(rc.Builders) == 0 || s.IsAdmin(ctx, r) {
		return nil
	}
	ok, err := s.isOneOf(ctx, r, rc.Builders)
	if err != nil {
		return err
	}
	if !ok {
		return jobs.Userf("you may not build %s; who may: %s", repo, people(rc.Builders))
	}
	return nil
}

// underCap refuses a request from a person who already has as many jobs
// queued, waiting or running as limits.queued_per_person allows.
func (s *Service) underCap(ctx context.Context, r *Request) error {
	limit := s.cfg(ctx).Limits.QueuedPerPerson
	if limit <= 0 || r.User == "" {
		return nil
	}
	n, err := s.store.ActiveBy(ctx, r.User)
	if err != nil {
		return err
	}
	if n >= limit {
		return jobs.Userf("nothing was queued: you already have %d jobs queued or running, the most one person may have (limits.queued_per_person); cancel one or wait for them to end. `queue` lists them", n)
	}
	return nil
}

// create stores a new job from a person's request: it records whether the
// job's channel is private (its page stays behind signed links), and
// enforces the per-person cap.
func (s *Service) create(ctx context.Context, r *Request, j *jobs.Job) error {
	if err := s.underCap(ctx, r); err != nil {
		return err
	}
	if len(j.Requesters) == 0 && j.Requester != "" {
		j.Requesters = []string{j.Requester}
	}
	s.markPrivate(ctx, j)
	return s.store.Create(ctx, j)
}

// markPrivate records whether j's channel is private (its page then stays
// behind signed links), for every job a channel sees: a person's, a
// schedule's or a webhook's.
func (s *Service) markPrivate(ctx context.Context, j *jobs.Job) {
	if s.channels != nil && j.Channel != "" {
		j.Private = s.channels.Private(ctx, j.Channel)
	}
}
