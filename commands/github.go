package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// StatusReporter queues commit statuses for GitHub without waiting for
// GitHub; *scm.Reporter is the real one. An error means the status was not
// queued.
type StatusReporter interface {
	Status(repo, sha string, st scm.CommitStatus) error
}

// Webhooks turns GitHub's webhooks into jobs: a push to a branch builds
// the branch pipeline at the pushed commit, a pull request opened, reopened
// or pushed to builds the pr pipeline at its head (stopping the build of
// the push before it), and a pull request closed stops its build. Jobs
// started this way have no requester and go to the repository's bound
// channel.
type Webhooks struct {
	s        *Service
	statuses StatusReporter
	logger   *slog.Logger
}

// Webhooks returns the webhook handler of s. statuses, where a
// .gantry.yml that is not valid is reported, may be nil.
func (s *Service) Webhooks(statuses StatusReporter) *Webhooks {
	return &Webhooks{s: s, statuses: statuses, logger: s.logger}
}

// Handle acts on one webhook. It returns an error only for what may mend
// when GitHub delivers the webhook again (Redis or GitHub unreachable);
// events for repositories gantry does not build, and commits it cannot
// build, are logged and dropped.
func (w *Webhooks) Handle(ctx context.Context, ev *scm.WebhookEvent) error {
	ctx = w.s.pin(ctx) // one config for the whole pass, whatever a reload does meanwhile
	log := w.logger.With("delivery", ev.Delivery, "event", ev.Kind, "repo", ev.Repo, "sender", ev.Sender)
	switch ev.Kind {
	case "push", "pull_request":
	case "ping":
		log.Info("GitHub webhook ping")
		return nil
	default:
		log.Debug("GitHub webhook ignored: not a push or pull request")
		return nil
	}
	name, rc, ok := w.repoFor(ctx, ev.Repo)
	if !ok {
		log.Info("GitHub webhook ignored: no configured repo has this github")
		return nil
	}
	log = log.With("repo_name", name)
	if ev.Kind == "push" {
		switch {
		case ev.Deleted && ev.Tag != "":
			log.Info("GitHub push ignored: the tag was deleted", "tag", ev.Tag)
			return nil
		case ev.Deleted:
			log.Info("GitHub push ignored: the branch was deleted", "branch", ev.Branch)
			return nil
		case ev.Tag != "":
			return w.start(ctx, log, ev, name, rc, "tag")
		}
		return w.start(ctx, log, ev, name, rc, "branch")
	}
	log = log.With("pr", ev.PR, "action", ev.Action)
	switch ev.Action {
	case "opened", "reopened", "synchronize":
		if ev.Fork {
			// A fork's code and .gantry.yml are a stranger's: they do not
			// run on this infrastructure until someone with access asks.
			log.Info("GitHub pull request from a fork not built automatically", "head_repo", ev.HeadRepo)
			return w.reportFork(rc, ev, name)
		}
		return w.start(ctx, log, ev, name, rc, "pr")
	case "closed":
		err := w.cancelPR(ctx, log, ev, name, fmt.Sprintf("GitHub: pull request #%d was closed", ev.PR))
		return errors.Join(err, w.s.stopPRPreviews(ctx, log, name, ev.PR))
	}
	log.Debug("GitHub pull request event ignored")
	return nil
}

// repoFor finds the configured repo whose github is full (owner/name, in
// any case, as GitHub matches them); the first by name when several are.
func (w *Webhooks) repoFor(ctx context.Context, full string) (string, spec.Repo, bool) {
	for _, name := range slices.Sorted(maps.Keys(w.s.cfg(ctx).Repos)) {
		rc := w.s.cfg(ctx).Repos[name]
		if rc.GitHub != "" && strings.EqualFold(rc.GitHub, full) {
			return name, rc, true
		}
	}
	return "", spec.Repo{}, false
}

// start queues a build of pipeline at the event's commit.
func (w *Webhooks) start(ctx context.Context, log *slog.Logger, ev *scm.WebhookEvent, name string, rc spec.Repo, pipeline string) error {
	log = log.With("branch", ev.Branch, "tag", ev.Tag, "sha", ev.SHA, "pipeline", pipeline)
	if busy, err := w.building(ctx, name, ev); err != nil || busy {
		if busy {
			log.Info("GitHub webhook ignored: this commit is being built for it already")
		}
		return err
	}
	src, err := w.s.sources.Resolve(ctx, name, ev.SHA, false)
	if err != nil {
		if permanent(err) {
			log.Warn("GitHub webhook dropped: cannot read the commit", "err", err)
			return nil
		}
		return fmt.Errorf("read %s at %s: %w", name, ev.SHA, err)
	}
	f, err := src.Parse()
	if err != nil {
		log.Warn("GitHub webhook: nothing queued: .gantry.yml is not valid", "err", err)
		return w.reportInvalid(src, ev, err)
	}
	plan, err := f.Pipeline(pipeline)
	if errors.Is(err, spec.ErrNotDefined) {
		log.Info("GitHub webhook: nothing to run: .gantry.yml has no such pipeline")
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.CheckServer(w.s.cfg(ctx), spec.CrossCheck{Plans: []string{pipeline}}); err != nil {
		log.Warn("GitHub webhook: nothing queued: .gantry.yml needs a pool gantry.yml does not define", "err", err)
		return w.reportInvalid(src, ev, err)
	}
	j := &jobs.Job{
		Kind: jobs.Build, Repo: name, Ref: cmp.Or(ev.Branch, ev.Tag), SHA: src.SHA, Message: src.Message, Plan: *plan, Source: src.Kind, Path: src.Path,
		CloneURL: cmp.Or(src.CloneURL, ev.CloneURL), GitHub: src.GitHub, PR: ev.PR, Origin: "github", Channel: rc.Channel,
	}
	w.s.markPrivate(ctx, j)
	if err := w.s.store.Create(ctx, j); err != nil {
		return err
	}
	log.Info("GitHub webhook queued a build", "job", j.ID)
	if ev.PR > 0 {
		by := fmt.Sprintf("a newer push to PR #%d (%s)", ev.PR, j.Name())
		if err := w.cancelPR(ctx, log, ev, name, by, j.ID); err != nil {
			// The new build is queued: stopping the old one is not worth
			// GitHub's redelivery, which would queue the new one twice.
			log.Error("stop the builds a newer push superseded", "err", err)
		}
		// The new build keeps a preview of its own if its pipeline has one.
		if err := w.s.stopPRPreviews(ctx, log, name, ev.PR); err != nil {
			log.Error("stop the previews a newer push superseded", "err", err)
		}
	}
	if ev.PR == 0 && pipeline == "branch" {
		if err := w.autoDeploys(ctx, log, ev, name, rc, j); err != nil {
			// As above: the build is queued and a redelivery would not
			// queue its deploys (it finds the build and stops there).
			log.Error("push to deploy: queue the deploys", "err", err)
		}
	}
	return nil
}

// building reports whether the build ev asks for is queued or running,
// and not being stopped: for a pull request, a build of its head commit;
// for a push, a GitHub build of the pushed commit on that branch. So a
// webhook acted on twice (delivered again, or taken over from a gantry
// that stopped before it had finished with it) starts its build once,
// and a pull request reopened right after it was closed is built again.
func (w *Webhooks) building(ctx context.Context, repo string, ev *scm.WebhookEvent) (bool, error) {
	active, err := w.s.store.Active(ctx)
	if err != nil {
		return false, err
	}
	for _, j := range active {
		if j.Kind != jobs.Build || j.Repo != repo || j.PR != ev.PR || j.SHA != ev.SHA {
			continue
		}
		if ev.PR == 0 && (j.Origin != "github" || j.Ref != cmp.Or(ev.Branch, ev.Tag)) {
			continue
		}
		stopping, err := w.s.store.CancelRequest(ctx, j.ID)
		if err != nil {
			return false, err
		}
		if stopping == nil {
			return true, nil
		}
	}
	return false, nil
}

// cancelPR cancels every queued or running build of the event's pull
// request but those in keep and those being stopped already, on behalf of
// by.
func (w *Webhooks) cancelPR(ctx context.Context, log *slog.Logger, ev *scm.WebhookEvent, repo, by string, keep ...int64) error {
	active, err := w.s.store.Active(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, j := range active {
		if j.Kind != jobs.Build || j.Repo != repo || j.PR != ev.PR || slices.Contains(keep, j.ID) {
			continue
		}
		if stopping, err := w.s.store.CancelRequest(ctx, j.ID); err != nil || stopping != nil {
			if err != nil {
				errs = append(errs, err)
			}
			continue // being stopped already, for its own reason
		}
		prev, err := w.s.store.Cancel(ctx, j.ID, by)
		if errors.Is(err, jobs.ErrNotFound) || errors.Is(err, jobs.ErrConflict) {
			continue // it ended meanwhile
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("cancelled a pull request build", "job", j.ID, "was", prev, "by", by)
	}
	return errors.Join(errs...)
}

// reportInvalid sets an error status on the commit whose .gantry.yml is not
// valid, naming the first problem's file and line, so the person who
// pushed sees it next to the commit and in the pull request.
func (w *Webhooks) reportInvalid(src *scm.Source, ev *scm.WebhookEvent, err error) error {
	if w.statuses == nil || src.GitHub == "" || src.SHA == "" {
		return nil
	}
	desc := err.Error()
	var se *spec.Error
	if errors.As(err, &se) && len(se.Problems) > 0 {
		desc = se.Problems[0].String()
		if n := len(se.Problems) - 1; n > 0 {
			desc += fmt.Sprintf(" (and %d more)", n)
		}
	}
	return w.statuses.Status(src.GitHub, src.SHA, scm.CommitStatus{
		State: "error", Description: "not built: " + desc, Context: scm.BuildContext(ev.PR),
	})
}

// reportFork tells the pull request why gantry did not build it.
func (w *Webhooks) reportFork(rc spec.Repo, ev *scm.WebhookEvent, name string) error {
	if w.statuses == nil {
		return nil
	}
	return w.statuses.Status(rc.GitHub, ev.SHA, scm.CommitStatus{
		State:       "error",
		Description: fmt.Sprintf("not built: PRs from forks need a maintainer to run `build %s@%s` in chat", name, ev.SHA[:7]),
		Context:     scm.BuildContext(ev.PR),
	})
}

// permanent reports whether err is one that delivering the webhook again
// would not mend.
func permanent(err error) bool {
	var ue *jobs.UserError
	return errors.Is(err, jobs.ErrPermanent) || errors.As(err, &ue)
}
