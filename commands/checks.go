package commands

import (
	"context"
	"errors"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// CheckReader reads what GitHub says of a commit's checks; *scm.Resolver
// is the real one.
type CheckReader interface {
	Checks(ctx context.Context, repo, sha string) (map[string]scm.Check, error)
	RequiredChecks(ctx context.Context, repo, branch string) ([]string, error)
}

// requireChecks applies the environment's required checks to deploying
// src: all green passes; otherwise the deploy is refused, or, where the
// server config allows an override, it asks for approval naming what is
// not green.
func (s *Service) requireChecks(ctx context.Context, envName string, env spec.Environment, src *scm.Source, p *policy) error {
	if len(env.RequiredChecks) == 0 && !env.RequiredProtected {
		return nil
	}
	cr, ok := s.sources.(CheckReader)
	if src.GitHub == "" || !ok {
		return jobs.Userf("refused: %s requires green checks before a deploy, and checks need a GitHub repo: %s is not on GitHub (set github: owner/name for it in the server config)", envName, src.Repo)
	}
	if src.SHA == "" {
		return jobs.Userf("refused: %s requires green checks, and %s has no commit to check", envName, describeRef(src))
	}
	required := env.RequiredChecks
	if env.RequiredProtected {
		var err error
		if required, err = cr.RequiredChecks(ctx, src.Repo, env.Branch); err != nil {
			return err
		}
	}
	got, err := cr.Checks(ctx, src.Repo, src.SHA)
	if err != nil {
		if errors.Is(err, scm.ErrNotGitHub) {
			return jobs.Userf("refused: %s requires green checks before a deploy, and checks need a GitHub repo: %v", envName, err)
		}
		return err
	}
	var missing, red []say.Text
	for _, name := range required {
		c, ok := got[name]
		switch {
		case !ok:
			missing = append(missing, say.Quote(name))
		case !c.Green:
			red = append(red, say.F("%s (%s)", say.Quote(name), c.State))
		}
	}
	if len(missing) == 0 && len(red) == 0 {
		names := make([]say.Text, 0, len(required))
		for _, n := range required {
			names = append(names, say.Quote(n))
		}
		if len(names) > 0 {
			p.checks = "required checks green: " + say.Join(names, ", ")
		}
		return nil
	}
	var what []say.Text
	if len(red) > 0 {
		what = append(what, "not green: "+say.Join(red, ", "))
	}
	if len(missing) > 0 {
		what = append(what, "missing: "+say.Join(missing, ", "))
	}
	problem := say.Join(what, "; ")
	if !env.AllowCheckOverride {
		return jobs.Userf("refused: %s requires green checks on %s (%s). %s", envName, describeRef(src), shortSHA(src.SHA), problem)
	}
	p.checks = "required checks " + problem
	p.override = say.F("Its required checks are %s; approving it overrides them", problem)
	p.approval = append(p.approval, say.F("the server config (required checks %s; approving overrides them)", problem))
	return nil
}
