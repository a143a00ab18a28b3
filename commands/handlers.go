package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// repoFor is the repo command c names, or the channel's bound repo.
func (s *Service) repoFor(ctx context.Context, r *Request, c *Command) (string, error) {
	if c.Repo != "" {
		return c.Repo, nil
	}
	if name, ok := s.cfg(ctx).RepoForChannel(r.Channel); ok {
		return name, nil
	}
	example := s.commandExample(ctx, r, c)
	if r.Console {
		return "", jobs.Userf("which repo? name one, e.g. `%s` (a configured repo or a local path)", example)
	}
	return "", jobs.Userf("no repo is bound to this channel; name one, e.g. `%s`", example)
}

// maxExampleRepos is how many repos commandExample reads, at most, looking
// for one that has what the command runs.
const maxExampleRepos = 5

// commandExample writes command c again with a repo: one whose .gantry.yml
// on its default branch has the pipeline or deploy stage c runs, if one of
// the first few configured repos (and, in the console, the examples) has
// it; else the first configured repo, or REPO.
func (s *Service) commandExample(ctx context.Context, r *Request, c *Command) string {
	write := func(repo string) string {
		switch c.Verb {
		case VerbDeploy:
			return fmt.Sprintf("deploy %s %s", repo, c.Env)
		case VerbRun:
			return fmt.Sprintf("run %s %s", c.Pipeline, repo)
		}
		return "build " + repo
	}
	has := func(f *spec.File) bool {
		switch c.Verb {
		case VerbDeploy:
			_, ok := f.DeployStages[c.Env]
			return ok
		case VerbRun:
			_, ok := f.Pipelines[c.Pipeline]
			return ok
		}
		_, ok := f.Pipelines["branch"]
		return ok
	}
	configured := slices.Sorted(maps.Keys(s.cfg(ctx).Repos))
	candidates := configured
	if r.Console {
		candidates = append(slices.Clip(candidates), "examples/hello")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for _, name := range candidates[:min(len(candidates), maxExampleRepos)] {
		src, err := s.sources.Resolve(ctx, name, "", r.Console)
		if err != nil {
			continue
		}
		if f, err := src.Parse(); err == nil && has(f) {
			return write(name)
		}
	}
	if len(configured) > 0 {
		return write(configured[0])
	}
	return write("REPO")
}

// specError turns .gantry.yml problems into a reply that names file and line.
func specError(err error) error {
	var se *spec.Error
	if errors.As(err, &se) {
		return &jobs.UserError{Msg: say.F("nothing was queued: the file is not valid\n%s", se.Error()), Err: err}
	}
	return err
}

func (s *Service) newJob(r *Request, src *scm.Source, kind jobs.Kind) *jobs.Job {
	origin := "chat"
	if r.Auto != "" {
		origin = r.Auto
	}
	return &jobs.Job{
		Kind: kind, Repo: src.Repo, Ref: src.Ref, SHA: src.SHA, Message: src.Message, Source: src.Kind, Path: src.Path,
		CloneURL: src.CloneURL, GitHub: src.GitHub, Requester: r.User, Origin: origin, Channel: r.Channel,
	}
}

// resolvePlan reads repo at ref and resolves one plan of its .gantry.yml;
// any problem comes back as a sentence for the person.
func (s *Service) resolvePlan(ctx context.Context, r *Request, repo, ref string, pick func(*spec.File) (*spec.Plan, error)) (*scm.Source, *spec.Plan, error) {
	src, err := s.sources.Resolve(ctx, repo, ref, r.Console)
	if err != nil {
		return nil, nil, err
	}
	f, err := src.Parse()
	if err != nil {
		return nil, nil, specError(err)
	}
	plan, err := pick(f)
	var se *spec.Error
	switch {
	case errors.As(err, &se):
		return nil, nil, &jobs.UserError{Msg: say.Quote(se.Error()), Err: err} // it names the file already
	case err != nil:
		return nil, nil, &jobs.UserError{Msg: say.F("%s: %v", src.SpecName, err), Err: err}
	}
	// Queued, a job that needs a pool this server does not define could
	// only end errored; its environment mayDeploy has checked already.
	if err := f.CheckServer(s.cfg(ctx), spec.CrossCheck{Plans: []string{plan.Name}, AnyEnv: true}); err != nil {
		return nil, nil, &jobs.UserError{Msg: say.F("nothing was queued: %s", say.Quote(err.Error())), Err: err}
	}
	return src, plan, nil
}

func (s *Service) build(ctx context.Context, r *Request, c *Command) (Reply, error) {
	return s.runPipeline(ctx, r, c, "branch")
}

// run runs the pipeline the command names: "run nightly" is a build whose
// steps are the nightly pipeline's.
func (s *Service) run(ctx context.Context, r *Request, c *Command) (Reply, error) {
	return s.runPipeline(ctx, r, c, c.Pipeline)
}

func (s *Service) runPipeline(ctx context.Context, r *Request, c *Command, pipeline string) (Reply, error) {
	repo, err := s.repoFor(ctx, r, c)
	if err != nil {
		return Reply{}, err
	}
	if err := s.mayBuild(ctx, r, repo); err != nil {
		return Reply{}, err
	}
	src, plan, err := s.resolvePlan(ctx, r, repo, c.Ref, func(f *spec.File) (*spec.Plan, error) { return f.Pipeline(pipeline) })
	if err != nil {
		return Reply{}, err
	}
	j := s.newJob(r, src, jobs.Build)
	j.Plan = *plan
	if err := s.create(ctx, r, j); err != nil {
		return Reply{}, err
	}
	return Reply{Text: say.F("Queued %s: %s %s", j.Name(), j.What(), describeTarget(j)), Job: j.ID}, nil
}

func describeTarget(j *jobs.Job) string {
	t := j.Target()
	if j.SHA != "" {
		t += " (" + j.ShortSHA() + ")"
	}
	return t
}

func (s *Service) deploy(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if c.Job != 0 {
		return s.redeploy(ctx, r, c)
	}
	j, err := s.queueDeploy(ctx, r, c, "")
	if err != nil {
		return Reply{}, err
	}
	if j.State == jobs.AwaitingApproval {
		return Reply{Text: say.F("%s: deploy %s to %s is awaiting approval. %s", j.Name(), describeTarget(j), c.Env, j.Policy), Job: j.ID}, nil
	}
	return Reply{Text: say.F("Queued %s: deploy %s to %s. %s", j.Name(), describeTarget(j), c.Env, j.Policy), Job: j.ID}, nil
}

// queueDeploy checks, resolves and queues the deploy c asks for: who may,
// the lock, the policy, approval. Every deploy goes through here: typed,
// pushed, scheduled, rolled back. why, when set, is added to the audit
// entry of the request (a rollback says what it rolls back).
func (s *Service) queueDeploy(ctx context.Context, r *Request, c *Command, why say.Text) (*jobs.Job, error) {
	env, err := s.mayDeploy(ctx, r, c.Env)
	if err != nil {
		return nil, err
	}
	if err := s.lockedAgainst(ctx, r, c.Env); err != nil && r.Auto == "" {
		return nil, err // a typed deploy is refused; an automatic one waits in line
	}
	repo, err := s.repoFor(ctx, r, c)
	if err != nil {
		return nil, err
	}
	// The policy comes from the default branch's .gantry.yml and the
	// server config; the stage's steps from the ref that is deployed.
	defSrc, def, err := s.defaultStage(ctx, r, repo, c.Env)
	if err != nil {
		return nil, err
	}
	ref := c.Ref
	if ref == "" {
		switch {
		case env.Branch != "":
			ref = env.Branch
		case def != nil && def.Branch != "":
			ref = def.Branch
		}
	}
	stage := func(f *spec.File) (*spec.Plan, error) { return f.Deploy(c.Env) }
	src, plan, err := s.resolvePlan(ctx, r, repo, ref, stage)
	if err != nil {
		return nil, err
	}
	pol, err := s.decidePolicy(ctx, c.Env, env, defSrc, def, src, plan)
	if err != nil {
		return nil, err
	}
	if err := s.requireChecks(ctx, c.Env, env, src, &pol); err != nil {
		return nil, err
	}
	j := s.newJob(r, src, jobs.Deploy)
	j.Env = c.Env
	j.After = c.After
	if c.Branch != "" {
		j.Ref = c.Branch // the SHA stays pinned; people know it by its branch
	}
	j.Plan = *plan
	j.Plan.Approval = pol.needsApproval() // what retries of it ask for
	j.Policy = pol.describe()
	j.Override = pol.override
	if pol.needsApproval() {
		j.State = jobs.AwaitingApproval
		j.Approvers = s.approversOf(ctx, env)
	}
	if err := s.create(ctx, r, j); err != nil {
		return nil, err
	}
	detail := say.Quote(describeTarget(j))
	if why != "" {
		detail += ", " + why
	}
	if err := s.store.Audit(ctx, jobs.AuditEntry{Who: r.User, Action: "request", Env: j.Env, Job: j.ID, Detail: detail}); err != nil {
		s.logger.Error("audit deploy request", "job", j.ID, "err", err)
	}
	return j, nil
}

// job finds the job a command names, or the person's latest.
func (s *Service) job(ctx context.Context, r *Request, id int64) (*jobs.Job, error) {
	var (
		j   *jobs.Job
		err error
	)
	if id == 0 {
		j, err = s.store.Latest(ctx, r.User)
	} else {
		j, err = s.store.Get(ctx, id)
	}
	if errors.Is(err, jobs.ErrNotFound) {
		if id == 0 {
			return nil, jobs.Userf("you have no jobs yet; name one, e.g. `logs #12`")
		}
		return nil, jobs.Userf("there is no job #%d", id)
	}
	return j, err
}

func (s *Service) logs(ctx context.Context, r *Request, c *Command) (Reply, error) {
	j, err := s.visible(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	n := c.Tail
	if n <= 0 {
		n = 30
	}
	lines, err := s.log.Tail(ctx, j.ID, n)
	if err != nil {
		return Reply{}, err
	}
	var b say.Builder
	b.F("Last %d lines of %s (%s):\n", len(lines), j.Name(), j.State)
	if len(lines) == 0 && j.State.Final() {
		b.Add("(no output: the job printed nothing, or its log was deleted after the retention period)")
	} else if len(lines) == 0 {
		b.Add("(no output yet)")
	} else {
		b.Add(say.Code(strings.Join(lines, "\n")))
	}
	if s.links != nil {
		b.F("\nWhole log: %s", say.LinkTo(s.links(j.ID)))
	}
	rep := Reply{Text: b.Text(), Job: j.ID}
	if r.ThreadTS != "" && r.ThreadTS == j.ThreadTS {
		rep.ThreadTS = j.ThreadTS
	} else {
		rep.Ephemeral = true
	}
	if !r.Console {
		all, err := s.log.All(ctx, j.ID)
		if err != nil {
			return Reply{}, err
		}
		rep.File = &File{Name: fmt.Sprintf("gantry-job-%d.log", j.ID), Title: "Log of " + j.Name(), Content: all}
	}
	return rep, nil
}

func (s *Service) status(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if c.Job == 0 && (c.Env != "" || c.Target != "") {
		return s.envStatus(ctx, r, c)
	}
	j, err := s.visible(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	return Reply{Text: Line(j, s.now()), Ephemeral: true, Job: j.ID}, nil
}

// Mention is a person in what gantry says; each surface shows them its way.
func Mention(user string) say.Text { return say.PersonOf(user) }

// maxInLine is how many queued jobs queue lists.
const maxInLine = 20

// classLabel names a class of work for people.
func classLabel(class string) string {
	switch class {
	case "deploy":
		return "a deploy"
	case "webhook":
		return "a webhook build"
	case "schedule":
		return "scheduled"
	}
	return "typed"
}

func (s *Service) queue(ctx context.Context, r *Request, c *Command) (Reply, error) {
	active, err := s.store.Active(ctx)
	if err != nil {
		return Reply{}, err
	}
	active, hidden, err := s.onlyVisible(ctx, r, active)
	if err != nil {
		return Reply{}, err
	}
	if len(active) == 0 && hidden == 0 {
		text := say.Text("Nothing is queued or running.")
		if s.listLink != nil {
			text += say.F(" Recent jobs: %s", say.LinkTo(s.listLink()))
		}
		return Reply{Text: text, Ephemeral: true}, nil
	}
	lines := make([]say.Text, 0, len(active)+3)
	var inLine []*jobs.Job
	for _, j := range active {
		if j.State == jobs.Queued {
			inLine = append(inLine, j)
			continue
		}
		lines = append(lines, "• "+Line(j, s.now()))
	}
	if len(inLine) > 0 {
		// The order workers take them in when every class waits: deploys
		// first, then by class; within a class, first come first served.
		slices.SortStableFunc(inLine, func(a, b *jobs.Job) int {
			return cmp.Or(cmp.Compare(slices.Index(rdb.Classes, a.Class()), slices.Index(rdb.Classes, b.Class())), cmp.Compare(a.ID, b.ID))
		})
		lines = append(lines, say.F("In line: deploys first, then typed jobs, webhook builds and scheduled ones, weighted %d:%d:%d:%d so none waits for ever:",
			rdb.Weights[0], rdb.Weights[1], rdb.Weights[2], rdb.Weights[3]))
		for i, j := range inLine {
			if i == maxInLine {
				lines = append(lines, say.F("… and %d more in line", len(inLine)-i))
				break
			}
			lines = append(lines, say.F("%d. ", i+1)+Line(j, s.now())+say.F(" (%s)", say.Text(classLabel(j.Class()))))
		}
	}
	if hidden > 0 {
		lines = append(lines, say.F("• and %d more in conversations you are not in", hidden))
	}
	if s.listLink != nil {
		// The list shows no private channel's job, so anyone may have it.
		lines = append(lines, say.F("Recent jobs: %s", say.LinkTo(s.listLink())))
	}
	return Reply{Text: say.Join(lines, "\n"), Ephemeral: true}, nil
}

func (s *Service) cancel(ctx context.Context, r *Request, c *Command) (Reply, error) {
	j, err := s.job(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	if j.State.Final() {
		return Reply{Text: say.F("%s has already ended: %s", j.Name(), j.State), Ephemeral: true}, nil
	}
	if ok, who, err := s.mayCancel(ctx, r, j); err != nil {
		return Reply{}, err
	} else if !ok {
		return Reply{}, jobs.Userf("you may not cancel %s; who may: %s", j.Name(), who)
	}
	prev, err := s.store.Cancel(ctx, j.ID, r.User) // "cancelled by <@U…>" in Slack
	if errors.Is(err, jobs.ErrConflict) {
		return Reply{Text: say.F("%s has already ended: %s", j.Name(), prev), Ephemeral: true}, nil
	}
	if err != nil {
		return Reply{}, err
	}
	if prev == jobs.Running || prev == jobs.Waiting {
		return Reply{Text: say.F("Stopping %s…", j.Name()), Ephemeral: true, Job: j.ID}, nil
	}
	return Reply{Text: say.F("Cancelled %s.", j.Name()), Ephemeral: true, Job: j.ID}, nil
}

func (s *Service) retry(ctx context.Context, r *Request, c *Command) (Reply, error) {
	old, err := s.visible(ctx, r, c.Job)
	if err != nil {
		return Reply{}, err
	}
	if !old.State.Final() {
		return Reply{}, jobs.Userf("%s is still %s; cancel it first or wait for it to end", old.Name(), old.State)
	}
	j := &jobs.Job{
		Kind: old.Kind, Repo: old.Repo, Ref: old.Ref, SHA: old.SHA, Message: old.Message, Env: old.Env, Plan: old.Plan,
		Source: old.Source, Path: old.Path, CloneURL: old.CloneURL, GitHub: old.GitHub, PR: old.PR,
		Requester: r.User, Origin: "chat", Channel: old.Channel, Retried: old.ID,
		Requesters: requestChain(old, r.User), Policy: old.Policy, Override: old.Override,
	}
	if old.Kind == jobs.Build {
		if err := s.mayBuild(ctx, r, old.Repo); err != nil {
			return Reply{}, err
		}
	}
	for _, p := range old.Plan.Resources {
		if msg := s.cfg(ctx).UndefinedPool(p, ""); msg != "" {
			return Reply{}, jobs.Userf("nothing was queued: %s, and %s's .gantry.yml leases from it", msg, old.Name())
		}
	}
	if old.Kind == jobs.Deploy {
		env, err := s.mayDeploy(ctx, r, old.Env)
		if err != nil {
			return Reply{}, err
		}
		if err := s.lockedAgainst(ctx, r, old.Env); err != nil {
			return Reply{}, err
		}
		if old.Plan.Approval || env.Approval {
			j.State = jobs.AwaitingApproval
		}
		if rejected(old) {
			// What was rejected is asked about again, with the rejection
			// in view.
			j.State = jobs.AwaitingApproval
			j.Plan.Approval = true
			j.Rejection = say.F("%s was %s", old.Name(), old.Decision)
		}
		if j.State == jobs.AwaitingApproval {
			j.Approvers = s.approversOf(ctx, env)
		}
	}
	if err := s.create(ctx, r, j); err != nil {
		return Reply{}, err
	}
	if j.Kind == jobs.Deploy {
		if err := s.store.Audit(ctx, jobs.AuditEntry{Who: r.User, Action: "request", Env: j.Env, Job: j.ID, Detail: say.F("%s (retry of %s)", describeTarget(j), old.Name())}); err != nil {
			s.logger.Error("audit deploy request", "job", j.ID, "err", err)
		}
	}
	text := say.F("Retrying %s as %s: %s %s", old.Name(), j.Name(), j.What(), describeTarget(j))
	if j.Rejection != "" {
		text += say.F(". It needs approval again: %s", j.Rejection)
	}
	return Reply{Text: text, Job: j.ID}, nil
}

func (s *Service) help(ctx context.Context, r *Request, c *Command) (Reply, error) {
	return Reply{Text: say.Words(HelpText(c.Target)), Ephemeral: true}, nil
}

// requestChain is everyone who asked for old, then who retries it.
func requestChain(old *jobs.Job, user string) []string {
	chain := append([]string{}, old.Requesters...)
	if len(chain) == 0 && old.Requester != "" {
		chain = append(chain, old.Requester)
	}
	if user != "" && (len(chain) == 0 || chain[len(chain)-1] != user) {
		chain = append(chain, user)
	}
	return chain
}

// rejected reports whether a deploy ended because an approver rejected it.
func rejected(j *jobs.Job) bool {
	return j.State == jobs.Cancelled && strings.HasPrefix(string(j.Decision), "rejected by ")
}
