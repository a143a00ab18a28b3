package commands

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// PreviewStopper ends the app of a preview whose record was closed: the
// local runner's process when this gantry runs it (other processes end
// theirs on their next sweep), an ECS task.
type PreviewStopper interface {
	StopPreview(ctx context.Context, p rdb.Preview)
}

// mayStopPreview says who may stop or extend job j's preview: its
// requester, deployers of any environment, admins.
func (s *Service) mayStopPreview(ctx context.Context, r *Request, j *jobs.Job) (bool, say.Text, error) {
	if s.IsAdmin(ctx, r) || (j.Requester != "" && j.Requester == r.User) {
		return true, "", nil
	}
	for _, env := range s.cfg(ctx).Environments {
		ok, err := s.isOneOf(ctx, r, env.Deployers)
		if err != nil || ok {
			return ok, "", err
		}
	}
	who := say.Text("deployers, admins")
	if j.Requester != "" {
		who = "the requester " + Mention(j.Requester) + ", " + who
	}
	return false, who, nil
}

// previewLink is where job id's preview is served.
func (s *Service) previewLink(id int64) string {
	if s.previewLinks != nil {
		return s.previewLinks(id)
	}
	return fmt.Sprintf("/preview/%d/", id)
}

// preview gives a running preview more time, or builds a finished build
// again to keep its app running.
func (s *Service) preview(ctx context.Context, r *Request, c *Command) (Reply, error) {
	j, err := s.visible(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	recs := s.store.Previews()
	ttl := c.For
	if ttl == 0 {
		ttl = s.cfg(ctx).Previews.PreviewTTL()
	}
	if _, ok, err := recs.Get(ctx, j.ID); err != nil {
		return Reply{}, err
	} else if ok {
		if may, who, err := s.mayStopPreview(ctx, r, j); err != nil {
			return Reply{}, err
		} else if !may {
			return Reply{}, jobs.Userf("you may not change the preview of %s; who may: %s", j.Name(), who)
		}
		until := s.now().Add(ttl)
		if ok, err := recs.Extend(ctx, j.ID, until); err != nil {
			return Reply{}, err
		} else if ok {
			return Reply{Text: say.F("The preview of %s runs until %s: %s", j.Name(), until.UTC().Format("Jan 2 15:04 UTC"), say.LinkTo(s.previewLink(j.ID))), Job: j.ID}, nil
		}
	}
	if j.Kind != jobs.Build || j.Plan.Preview == nil {
		return Reply{}, jobs.Userf("%s has no preview: its pipeline (%s) has no preview: in .gantry.yml (e.g. preview: {run: ./serve, port: 8080})", j.Name(), j.Plan.Name)
	}
	if !j.State.Final() {
		return Reply{}, jobs.Userf("%s is still %s; its app is kept once its steps succeed", j.Name(), j.State)
	}
	if err := s.mayBuild(ctx, r, j.Repo); err != nil {
		return Reply{}, err
	}
	if all, err := recs.List(ctx); err != nil {
		return Reply{}, err
	} else if max := s.cfg(ctx).Previews.PreviewMax(); len(all) >= max {
		return Reply{}, jobs.Userf("no preview: %d previews already run, the most gantry keeps at once (previews.max); `stop #N` one of them (see `envs`)", max)
	}
	n := &jobs.Job{
		Kind: j.Kind, Repo: j.Repo, Ref: j.Ref, SHA: j.SHA, Message: j.Message, Plan: j.Plan,
		Source: j.Source, Path: j.Path, CloneURL: j.CloneURL, GitHub: j.GitHub, PR: j.PR,
		Requester: r.User, Origin: "chat", Channel: j.Channel, Retried: j.ID, Requesters: requestChain(j, r.User),
	}
	pv := *j.Plan.Preview
	pv.TTL = ttl
	n.Plan.Preview = &pv
	if err := s.create(ctx, r, n); err != nil {
		return Reply{}, err
	}
	return Reply{Text: say.F("Building %s again as %s to keep its app running for %s once its steps succeed", j.Name(), n.Name(), ttl), Job: n.ID}, nil
}

// stop ends job's preview.
func (s *Service) stop(ctx context.Context, r *Request, c *Command) (Reply, error) {
	j, err := s.visible(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	if _, ok, err := s.store.Previews().Get(ctx, j.ID); err != nil {
		return Reply{}, err
	} else if !ok {
		return Reply{Text: say.F("%s has no running preview.", j.Name()), Ephemeral: true}, nil
	}
	if may, who, err := s.mayStopPreview(ctx, r, j); err != nil {
		return Reply{}, err
	} else if !may {
		return Reply{}, jobs.Userf("you may not stop the preview of %s; who may: %s", j.Name(), who)
	}
	p, ok, err := s.store.Previews().Close(ctx, j.ID)
	if err != nil {
		return Reply{}, err
	}
	if ok && s.previewStopper != nil {
		s.previewStopper.StopPreview(ctx, p)
	}
	return Reply{Text: say.F("Stopped the preview of %s.", j.Name()), Job: j.ID}, nil
}

// previewLines lists the running previews for envs.
func (s *Service) previewLines(ctx context.Context, r *Request) (say.Text, error) {
	all, err := s.store.Previews().List(ctx)
	if err != nil {
		return "", err
	}
	if len(all) == 0 {
		return "", nil
	}
	var b say.Builder
	b.F("*Previews* (%d of at most %d)", len(all), s.cfg(ctx).Previews.PreviewMax())
	for _, p := range all {
		j, err := s.store.Get(ctx, p.Job)
		if err != nil {
			continue
		}
		if ok, _, err := s.mayView(ctx, r, j); err != nil || !ok {
			b.F("\n• a job you may not see, until %s", p.Expires.UTC().Format("Jan 2 15:04 UTC"))
			continue
		}
		b.F("\n• %s %s@%s (%s) until %s: %s", j.Name(), j.Repo, j.Ref, p.Runner, p.Expires.UTC().Format("Jan 2 15:04 UTC"), say.LinkTo(s.previewLink(p.Job)))
	}
	return b.Text(), nil
}

// stopPRPreviews stops the previews of builds of repo's pull request pr:
// it was closed, or pushed to again.
func (s *Service) stopPRPreviews(ctx context.Context, log *slog.Logger, repo string, pr int) error {
	all, err := s.store.Previews().List(ctx)
	if err != nil {
		return err
	}
	for _, p := range all {
		if p.PR != pr || p.Repo != repo {
			continue
		}
		p, ok, err := s.store.Previews().Close(ctx, p.Job)
		if err != nil {
			return err
		}
		if ok {
			log.Info("stopped a pull request's preview", "job", p.Job)
			if s.previewStopper != nil {
				s.previewStopper.StopPreview(ctx, p)
			}
		}
	}
	return nil
}
