package commands

import (
	"context"
	"errors"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// A deploy's policy (which branch it may come from, whether it needs
// approval) is read from the server config and from the .gantry.yml on the
// repository's default branch, never from the ref being deployed: a branch
// could otherwise write itself a policy without approval. The deployed
// ref's own stage may only add approval.

// policy is what applies to one deploy, and where each part came from.
type policy struct {
	branch     string     // commits must be on this branch ("" for any)
	branchFrom string     // "the server config", ".gantry.yml on main"
	approval   []say.Text // who asks for approval; empty: none needed
	otherRef   bool       // the commit is not on branch, which the server config allows with approval
	checks     say.Text   // what the required checks say; "" when none are required
	override   say.Text   // what an approval overrides (checks not green); "" for nothing
}

func (p policy) needsApproval() bool { return len(p.approval) > 0 }

// describe says in one line which policy applied and where it came from.
func (p policy) describe() say.Text {
	var parts []say.Text
	if p.needsApproval() {
		parts = append(parts, "approval required by "+say.Join(p.approval, " and "))
	} else {
		parts = append(parts, "no approval required")
	}
	switch {
	case p.branch == "":
		parts = append(parts, "any ref may be deployed")
	case p.otherRef:
		parts = append(parts, say.F("the commit is not on %s (allowed by the server config, with approval)", p.branch))
	default:
		parts = append(parts, say.F("only commits on %s (from %s)", p.branch, p.branchFrom))
	}
	if p.checks != "" {
		parts = append(parts, p.checks)
	}
	return "Policy: " + say.Join(parts, "; ")
}

// defaultStage reads the deploy stage for env on repo's default branch:
// the one the repository's maintainers merged. nil when that file has no
// stage for env (the server config alone decides).
func (s *Service) defaultStage(ctx context.Context, r *Request, repo, env string) (*scm.Source, *spec.Plan, error) {
	src, err := s.sources.Resolve(ctx, repo, "", r.Console)
	if err != nil {
		return nil, nil, err
	}
	f, err := src.Parse()
	if err != nil {
		var se *spec.Error
		if errors.As(err, &se) {
			return nil, nil, &jobs.UserError{Msg: say.F("nothing was queued: the deploy policy is read from the .gantry.yml on %s, which is not valid\n%s", describeRef(src), se.Error()), Err: err}
		}
		return nil, nil, err
	}
	plan, err := f.Deploy(env)
	if errors.Is(err, spec.ErrNotDefined) {
		return src, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	return src, plan, nil
}

func describeRef(src *scm.Source) string {
	if src.Ref == "" {
		return src.Repo
	}
	return src.Repo + "@" + src.Ref
}

// decidePolicy works out the policy of deploying src (whose own stage is
// plan) to envName, given the default branch's stage def (nil for none).
// It refuses a commit that is not on the environment's branch unless the
// server config allows other refs.
func (s *Service) decidePolicy(ctx context.Context, envName string, env spec.Environment, defSrc *scm.Source, def *spec.Plan, src *scm.Source, plan *spec.Plan) (policy, error) {
	var p policy
	defName := ".gantry.yml on the default branch"
	if defSrc != nil && defSrc.Ref != "" {
		defName = ".gantry.yml on " + defSrc.Ref
	}
	switch {
	case env.Branch != "":
		p.branch, p.branchFrom = env.Branch, "the server config"
	case def != nil && def.Branch != "":
		p.branch, p.branchFrom = def.Branch, defName
	}
	if env.Approval {
		p.approval = append(p.approval, "the server config")
	}
	if def != nil && def.Approval {
		p.approval = append(p.approval, say.Quote(defName))
	}
	if plan.Approval && (def == nil || !def.Approval) {
		p.approval = append(p.approval, say.F(".gantry.yml at %s", describeRef(src)))
	}
	if p.branch == "" || src.SHA == "" {
		return p, nil
	}
	on, err := s.sources.Contains(ctx, src.Repo, p.branch, src.SHA)
	if err != nil {
		return p, err
	}
	if on {
		return p, nil
	}
	if !env.AllowOtherRefs {
		return p, jobs.Userf("refused: %s takes only commits on %s (set by %s), and %s (%s) is not on it. Merge it into %s first, or deploy %s itself",
			envName, p.branch, p.branchFrom, describeRef(src), shortSHA(src.SHA), p.branch, p.branch)
	}
	p.otherRef = true
	p.approval = append(p.approval, say.F("the server config (a commit not on %s)", p.branch))
	return p, nil
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
