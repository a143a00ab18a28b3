package commands

import (
	"context"
	"errors"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// Approvals, locks, environment status and the audit log.

const defaultApprovalTTL = time.Hour

func (s *Service) environment(ctx context.Context, name string) (spec.Environment, bool) {
	env, ok := s.cfg(ctx).Environments[name]
	if ok && env.ApprovalTTL <= 0 {
		env.ApprovalTTL = defaultApprovalTTL
	}
	if !ok {
		env.ApprovalTTL = defaultApprovalTTL
	}
	return env, ok
}

// clock writes a time as people read it in a thread.
func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// awaiting finds job id and checks that it is a deploy awaiting approval.
func (s *Service) awaiting(ctx context.Context, r *Request, id int64) (*jobs.Job, spec.Environment, error) {
	j, err := s.job(ctx, r, id)
	if err != nil {
		return nil, spec.Environment{}, err
	}
	env, _ := s.environment(ctx, j.Env)
	if j.Kind != jobs.Deploy || j.State != jobs.AwaitingApproval {
		msg := say.F("%s is not awaiting approval: it is %s", j.Name(), j.State)
		if j.Decision != "" {
			msg += " (" + j.Decision + ")"
		}
		return nil, env, jobs.Userf("%s", msg)
	}
	return j, env, nil
}

// approversOf is who may approve deploys to env: its approvers, or the
// admins where it names none.
func (s *Service) approversOf(ctx context.Context, env spec.Environment) []string {
	if len(env.Approvers) > 0 {
		return env.Approvers
	}
	return s.cfg(ctx).Admins
}

// mayDecide applies who may approve or reject: the environment's approvers
// (admins where none are configured), and not the requester unless the
// environment allows self-approval.
func (s *Service) mayDecide(ctx context.Context, r *Request, j *jobs.Job, env spec.Environment, verb string) error {
	ok := false
	if len(env.Approvers) == 0 {
		ok = s.IsAdmin(ctx, r)
	} else {
		var err error
		if ok, err = s.isOneOf(ctx, r, env.Approvers); err != nil {
			return err
		}
	}
	if !ok {
		who := people(env.Approvers)
		if len(env.Approvers) == 0 {
			who = say.F("admins (no approvers are configured for %s)", j.Env)
		}
		return jobs.Userf("you may not %s deploys to %s; who may: %s", verb, j.Env, who)
	}
	if verb == "approve" && j.RequestedBy(r.User) && !env.SelfApproval && !r.Console {
		if j.Requester != r.User {
			return jobs.Userf("you asked for an earlier run of %s (it was retried), so another approver must approve it", j.Name())
		}
		return jobs.Userf("you asked for %s, so another approver must approve it", j.Name())
	}
	return nil
}

func (s *Service) approve(ctx context.Context, r *Request, c *Command) (Reply, error) {
	j, env, err := s.awaiting(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	if err := s.mayDecide(ctx, r, j, env, "approve"); err != nil {
		return Reply{}, err
	}
	if s.expired(j, env) {
		if err := s.expire(ctx, j, env); err != nil {
			return Reply{}, err
		}
		return Reply{}, jobs.Userf("the approval request for %s expired at %s; ask for the deploy again", j.Name(), clock(j.Created.Add(env.ApprovalTTL)))
	}
	decision := say.F("approved by %s at %s", Mention(r.User), clock(s.now()))
	_, err = s.store.Transition(ctx, j.ID, jobs.Change{
		From: []jobs.State{jobs.AwaitingApproval}, To: jobs.Queued, Enqueue: true,
		Text:  say.F("Approved by %s: deploying to %s", Mention(r.User), j.Env),
		Set:   jobs.Set().Decision(decision),
		Audit: &jobs.AuditEntry{Who: r.User, Action: "approve", Env: j.Env, Detail: say.Quote(j.Target())},
	})
	if err != nil {
		return Reply{}, s.decided(ctx, j.ID, err)
	}
	return Reply{Text: say.F("You approved %s: deploy %s to %s.", j.Name(), describeTarget(j), j.Env), Ephemeral: true, Job: j.ID}, nil
}

func (s *Service) reject(ctx context.Context, r *Request, c *Command) (Reply, error) {
	j, env, err := s.awaiting(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	if err := s.mayDecide(ctx, r, j, env, "reject"); err != nil {
		return Reply{}, err
	}
	reason := "rejected by " + Mention(r.User)
	if c.Reason != "" {
		reason += ": " + typed(c.Reason)
	}
	_, err = s.store.Transition(ctx, j.ID, jobs.Change{
		From: []jobs.State{jobs.AwaitingApproval}, To: jobs.Cancelled, Text: reason,
		Set:   jobs.Set().Reason(reason).Decision(reason + say.F(" at %s", clock(s.now()))),
		Audit: &jobs.AuditEntry{Who: r.User, Action: "reject", Env: j.Env, Detail: typed(c.Reason)},
	})
	if err != nil {
		return Reply{}, s.decided(ctx, j.ID, err)
	}
	return Reply{Text: say.F("You rejected %s.", j.Name()), Ephemeral: true, Job: j.ID}, nil
}

// decided explains a decision that lost a race with another.
func (s *Service) decided(ctx context.Context, id int64, err error) error {
	if !errors.Is(err, jobs.ErrConflict) {
		return err
	}
	j, gerr := s.store.Get(ctx, id)
	if gerr != nil {
		return gerr
	}
	if j.Decision != "" {
		return jobs.Userf("%s was already decided: %s", j.Name(), j.Decision)
	}
	return jobs.Userf("%s is no longer awaiting approval: it is %s", j.Name(), j.State)
}

func (s *Service) expired(j *jobs.Job, env spec.Environment) bool {
	return !s.now().Before(j.Created.Add(env.ApprovalTTL))
}

func (s *Service) expire(ctx context.Context, j *jobs.Job, env spec.Environment) error {
	reason := say.F("the approval request expired after %s without an answer", env.ApprovalTTL)
	_, err := s.store.Transition(ctx, j.ID, jobs.Change{
		From: []jobs.State{jobs.AwaitingApproval}, To: jobs.Cancelled, Text: reason,
		Set:   jobs.Set().Reason(reason).Decision(say.F("expired at %s", clock(s.now()))),
		Audit: &jobs.AuditEntry{Who: "gantry", Action: "expire", Env: j.Env, Detail: say.Quote(j.Target())},
	})
	if errors.Is(err, jobs.ErrConflict) {
		return nil
	}
	return err
}

// ExpireApprovals ends the approval requests whose time is up. The bot
// calls it every few seconds; approve and reject check the time themselves
// too, so a late sweep never lets an expired request through.
func (s *Service) ExpireApprovals(ctx context.Context) error {
	ctx = s.pin(ctx) // one config for the whole pass, whatever a reload does meanwhile
	active, err := s.store.Active(ctx)
	if err != nil {
		return err
	}
	for _, j := range active {
		if j.State != jobs.AwaitingApproval {
			continue
		}
		if ended, err := s.buildFailed(ctx, j); err != nil || ended {
			if err != nil {
				return err
			}
			continue
		}
		env, _ := s.environment(ctx, j.Env)
		if s.expired(j, env) {
			if err := s.expire(ctx, j, env); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildFailed ends a deploy awaiting approval whose build (a push's, see
// Job.After) ended without success: there is nothing left to approve. It
// reports whether it did.
func (s *Service) buildFailed(ctx context.Context, j *jobs.Job) (bool, error) {
	if j.After == 0 {
		return false, nil
	}
	b, err := s.store.Get(ctx, j.After)
	if errors.Is(err, jobs.ErrNotFound) || err == nil && b.State.Final() && b.State != jobs.Succeeded {
		why := say.F("build #%d, which it follows, is gone", j.After)
		if err == nil {
			why = say.F("build %s, which it follows, %s", say.Text(b.Name()), say.Text(b.State))
		}
		reason := (&jobs.CancelError{Why: why}).Text()
		_, err := s.store.Transition(ctx, j.ID, jobs.Change{
			From: []jobs.State{jobs.AwaitingApproval}, To: jobs.Cancelled, Text: reason, Set: jobs.Set().Reason(reason),
		})
		if errors.Is(err, jobs.ErrConflict) {
			return false, nil // decided meanwhile
		}
		return err == nil, err
	}
	return false, err
}

// mayDeploy checks that r's person may deploy to env: its deployers, or
// anyone in the console when the environment is not configured.
func (s *Service) mayDeploy(ctx context.Context, r *Request, envName string) (spec.Environment, error) {
	env, configured := s.environment(ctx, envName)
	if !configured {
		if r.Console {
			return env, nil
		}
		return env, jobs.Userf("%s", s.cfg(ctx).UndefinedEnv(envName, ""))
	}
	ok, err := s.isOneOf(ctx, r, env.Deployers)
	if err != nil {
		return env, err
	}
	if !ok {
		return env, jobs.Userf("you may not deploy to %s; deployers: %s", envName, people(env.Deployers))
	}
	return env, nil
}

func (s *Service) audit(ctx context.Context, r *Request, c *Command) (Reply, error) {
	entries, err := s.store.AuditLog(ctx, c.Env, 20)
	if err != nil {
		return Reply{}, err
	}
	if entries, err = s.visibleEntries(ctx, r, entries); err != nil {
		return Reply{}, err
	}
	if len(entries) == 0 {
		if c.Env != "" {
			return Reply{Text: say.F("Nothing has been decided about %s yet.", c.Env), Ephemeral: true}, nil
		}
		return Reply{Text: "The audit log is empty.", Ephemeral: true}, nil
	}
	lines := make([]say.Text, len(entries))
	for i, e := range entries {
		lines[i] = AuditLine(e)
	}
	return Reply{Text: say.Join(lines, "\n"), Ephemeral: true}, nil
}

// AuditLine writes one audit entry as people read it.
func AuditLine(e jobs.AuditEntry) say.Text {
	var b say.Builder
	b.F("%s  %s %s", clock(e.At), Mention(e.Who), auditVerb(e.Action))
	if e.Job > 0 {
		b.F(" #%d", e.Job)
	}
	if e.Env != "" {
		b.F(" (%s)", e.Env)
	}
	if e.Detail != "" {
		b.F(": %s", e.Detail)
	}
	return b.Text()
}

func auditVerb(action string) string {
	switch action {
	case "request":
		return "requested deploy"
	case "approve":
		return "approved"
	case "reject":
		return "rejected"
	case "expire":
		return "expired the approval request of"
	case "lock":
		return "locked"
	case "unlock":
		return "unlocked"
	case "force-unlock":
		return "force-unlocked"
	case "lock-expire":
		return "released the lapsed lock"
	case "release":
		return "force-released"
	}
	return action
}

// visibleEntries keeps the audit entries r's person may see: those about a
// job they may see, those about an environment they deploy to or approve
// for, and the rest (pool releases) to everyone.
func (s *Service) visibleEntries(ctx context.Context, r *Request, entries []jobs.AuditEntry) ([]jobs.AuditEntry, error) {
	if s.IsAdmin(ctx, r) {
		return entries, nil
	}
	seen := map[int64]bool{}
	out := entries[:0:0]
	for _, e := range entries {
		ok := true
		switch {
		case e.Job > 0:
			v, known := seen[e.Job]
			if !known {
				j, err := s.store.Get(ctx, e.Job)
				if errors.Is(err, jobs.ErrNotFound) {
					v = false
				} else if err != nil {
					return nil, err
				} else if v, _, err = s.mayView(ctx, r, j); err != nil {
					return nil, err
				}
				seen[e.Job] = v
			}
			ok = v
		case e.Env != "":
			env := s.cfg(ctx).Environments[e.Env]
			var err error
			if ok, err = s.isOneOf(ctx, r, append(append([]string{}, env.Deployers...), env.Approvers...)); err != nil {
				return nil, err
			}
		}
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}
