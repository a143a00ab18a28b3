package commands

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// What is deployed where: envs, status ENV, rollback and deploy ENV #N.

// deploysShown is how many of an environment's newest deploys status
// lists; deploysSearched how far back rollback and envs look for a good
// one (the store keeps the newest 100).
const (
	deploysShown    = 10
	deploysSearched = 100
)

// envNames is every environment people may ask about, sorted: the server
// config's, and any other that has had a deploy or a lock (the console's).
func (s *Service) envNames(ctx context.Context) ([]string, error) {
	names, err := s.store.EnvNames(ctx)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, n := range names {
		set[n] = true
	}
	for n := range s.cfg(ctx).Environments {
		set[n] = true
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// lastGood returns the newest deploy of js (newest first) that succeeded,
// and its index; nil and -1 when none did.
func lastGood(js []*jobs.Job) (*jobs.Job, int) {
	for i, j := range js {
		if j.State == jobs.Succeeded {
			return j, i
		}
	}
	return nil, -1
}

// deployed says what a succeeded deploy put in place: what, which commit,
// by whom, when, which job.
func deployed(j *jobs.Job) say.Text {
	var b say.Builder
	b.F("%s", describeTarget(j))
	if j.Message != "" {
		b.F(" %q", j.Message)
	}
	if j.Requester != "" {
		b.F(" by %s", Mention(j.Requester))
	} else if j.Origin != "" {
		b.F(" (%s)", j.Origin)
	}
	at := j.Finished
	if at.IsZero() {
		at = j.Created
	}
	b.F(", %s, %s", clock(at), j.Name())
	return b.Text()
}

// policyLine says who may deploy to env and who approves.
func (s *Service) policyLine(ctx context.Context, name string) say.Text {
	env, configured := s.cfg(ctx).Environments[name]
	if !configured {
		return "Policy: not in the server config (only the console deploys here)"
	}
	t := say.F("Deployers: %s", people(env.Deployers))
	switch {
	case env.Approval:
		t += say.F("; approval required, by %s", people(s.approversOf(ctx, env)))
	default:
		t += say.F("; approval where the deploy stage asks for it, by %s", people(s.approversOf(ctx, env)))
	}
	if env.Branch != "" {
		t += say.F("; only commits on %s", env.Branch)
	}
	return t
}

func (s *Service) lockLine(ctx context.Context, name string) (say.Text, error) {
	l, err := s.store.EnvLock(ctx, name)
	if err != nil || l == nil {
		return "Not locked", err
	}
	return capitalize(describeLock(l)), nil
}

func capitalize(t say.Text) say.Text {
	if len(t) > 0 && t[0] >= 'a' && t[0] <= 'z' {
		return say.Text(string(t[0]-'a'+'A')) + t[1:]
	}
	return t
}

// waiting is what waits to deploy to env: queued, awaiting approval or
// waiting its turn, oldest first.
func waiting(active []*jobs.Job, env string) []*jobs.Job {
	var out []*jobs.Job
	for _, j := range active {
		if j.Kind == jobs.Deploy && j.Env == env && j.State != jobs.Running {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *jobs.Job) int { return int(a.ID - b.ID) })
	return out
}

func (s *Service) envs(ctx context.Context, r *Request, c *Command) (Reply, error) {
	names, err := s.envNames(ctx)
	if err != nil {
		return Reply{}, err
	}
	previews, err := s.previewLines(ctx, r)
	if err != nil {
		return Reply{}, err
	}
	if len(names) == 0 {
		text := say.Text("There are no environments: none is configured in gantry.yml and nothing has been deployed.")
		if previews != "" {
			text += "\n\n" + previews
		}
		return Reply{Text: text, Ephemeral: true}, nil
	}
	active, err := s.store.Active(ctx)
	if err != nil {
		return Reply{}, err
	}
	if active, _, err = s.onlyVisible(ctx, r, active); err != nil {
		return Reply{}, err
	}
	parts := make([]say.Text, 0, len(names))
	for _, name := range names {
		var b say.Builder
		b.F("*%s*", name)
		deploys, err := s.visibleDeploys(ctx, r, name, deploysSearched)
		if err != nil {
			return Reply{}, err
		}
		if cur, _ := lastGood(deploys); cur != nil {
			b.F("\nDeployed: %s", deployed(cur))
		} else {
			b.Add("\nNothing deployed yet")
		}
		lock, err := s.lockLine(ctx, name)
		if err != nil {
			return Reply{}, err
		}
		b.F("\n%s\n%s", lock, s.policyLine(ctx, name))
		for _, j := range waiting(active, name) {
			b.F("\nWaiting: %s", Line(j, s.now()))
		}
		parts = append(parts, b.Text())
	}
	if previews != "" {
		parts = append(parts, previews)
	}
	return Reply{Text: say.Join(parts, "\n\n"), Ephemeral: true}, nil
}

// visibleDeploys is up to n of env's newest deploys that r's person may see.
func (s *Service) visibleDeploys(ctx context.Context, r *Request, env string, n int64) ([]*jobs.Job, error) {
	deploys, err := s.store.RecentDeploys(ctx, env, n)
	if err != nil {
		return nil, err
	}
	deploys, _, err = s.onlyVisible(ctx, r, deploys)
	return deploys, err
}

func (s *Service) envStatus(ctx context.Context, r *Request, c *Command) (Reply, error) {
	name := c.Env
	if name == "" {
		name = c.Target
	}
	if _, ok := s.cfg(ctx).Environments[name]; !ok && !r.Console {
		return Reply{}, jobs.Userf("there is no job or environment called %q", name)
	}
	var b say.Builder
	b.F("*%s*\n", name)
	lock, err := s.lockLine(ctx, name)
	if err != nil {
		return Reply{}, err
	}
	b.F("%s\n", lock)
	deploys, err := s.visibleDeploys(ctx, r, name, deploysSearched)
	if err != nil {
		return Reply{}, err
	}
	if cur, _ := lastGood(deploys); cur != nil {
		b.F("Deployed: %s\n", deployed(cur))
	}
	if len(deploys) == 0 {
		b.Add("No deploys yet")
	} else {
		b.Add("Last deploys:")
		for _, j := range deploys[:min(len(deploys), deploysShown)] {
			b.F("\n• %s, %s", Line(j, s.now()), clock(j.Created))
		}
	}
	return Reply{Text: b.Text(), Ephemeral: true}, nil
}

// rollback deploys again the commit of the last good deploy to c.Env
// before the current one, or of deploy c.Job.
func (s *Service) rollback(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if _, err := s.mayDeploy(ctx, r, c.Env); err != nil {
		return Reply{}, err
	}
	deploys, err := s.store.RecentDeploys(ctx, c.Env, deploysSearched)
	if err != nil {
		return Reply{}, err
	}
	cur, i := lastGood(deploys)
	if cur == nil {
		return Reply{}, jobs.Userf("nothing to roll back: no deploy to %s has succeeded yet", c.Env)
	}
	var to *jobs.Job
	if c.Job != 0 {
		if to, err = s.goodDeploy(ctx, c.Env, c.Job); err != nil {
			return Reply{}, err
		}
	} else {
		for _, j := range deploys[i+1:] {
			if j.State == jobs.Succeeded && (j.SHA != cur.SHA || j.Repo != cur.Repo) {
				to = j
				break
			}
		}
		if to == nil {
			return Reply{}, jobs.Userf("nothing to roll back to: no deploy to %s before %s (%s) succeeded with another commit", c.Env, cur.Name(), cur.ShortSHA())
		}
	}
	note := say.F("Rollback of %s from %s (%s) to what %s deployed (%s)", c.Env, cur.Name(), cur.ShortSHA(), to.Name(), to.ShortSHA())
	return s.deployAgain(ctx, r, c.Env, to, note)
}

// redeploy is "deploy ENV #N": what deploy #N put in place, again.
func (s *Service) redeploy(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if _, err := s.mayDeploy(ctx, r, c.Env); err != nil {
		return Reply{}, err
	}
	to, err := s.goodDeploy(ctx, c.Env, c.Job)
	if err != nil {
		return Reply{}, err
	}
	note := say.F("Deploys to %s again what %s deployed (%s)", c.Env, to.Name(), to.ShortSHA())
	deploys, err := s.store.RecentDeploys(ctx, c.Env, deploysSearched)
	if err != nil {
		return Reply{}, err
	}
	if cur, _ := lastGood(deploys); cur != nil && cur.ID != to.ID {
		note = say.F("Deploys to %s again what %s deployed (%s), in place of %s (%s)", c.Env, to.Name(), to.ShortSHA(), cur.Name(), cur.ShortSHA())
	}
	return s.deployAgain(ctx, r, c.Env, to, note)
}

// goodDeploy finds job id and checks that it is a deploy to env that
// succeeded, with a commit to deploy again.
func (s *Service) goodDeploy(ctx context.Context, env string, id int64) (*jobs.Job, error) {
	j, err := s.store.Get(ctx, id)
	switch {
	case err != nil:
		return nil, notFound(err, id)
	case j.Kind != jobs.Deploy || j.Env != env:
		return nil, jobs.Userf("%s is not a deploy to %s, so it cannot be deployed there again; `status %s` lists the deploys", j.Name(), env, env)
	case j.State != jobs.Succeeded:
		return nil, jobs.Userf("%s did not succeed (it is %s): only a deploy that succeeded can be deployed again", j.Name(), j.State)
	case j.SHA == "":
		return nil, jobs.Userf("%s deployed a plain directory, not a commit, so there is nothing to deploy again", j.Name())
	}
	return j, nil
}

func notFound(err error, id int64) error {
	if errors.Is(err, jobs.ErrNotFound) {
		return jobs.Userf("there is no job #%d", id)
	}
	return err
}

// deployAgain queues a deploy of the commit to deployed to env, pinned to
// its SHA and shown by its ref, through the same checks as any deploy;
// note says what it is, in the reply, the audit and the job's thread.
func (s *Service) deployAgain(ctx context.Context, r *Request, env string, to *jobs.Job, note say.Text) (Reply, error) {
	j, err := s.queueDeploy(ctx, r, &Command{Verb: VerbDeploy, Repo: to.Repo, Ref: to.SHA, Branch: to.Ref, Env: env}, note)
	if err != nil {
		return Reply{}, err
	}
	if err := s.store.Announce(ctx, j.ID, jobs.EventNote, note+"."); err != nil {
		s.logger.Error("say what a rollback is", "job", j.ID, "err", err)
	}
	if j.State == jobs.AwaitingApproval {
		return Reply{Text: say.F("%s: %s. %s is awaiting approval. %s", j.Name(), note, j.Name(), j.Policy), Job: j.ID}, nil
	}
	return Reply{Text: say.F("Queued %s: %s. %s", j.Name(), note, j.Policy), Job: j.ID}, nil
}
