package commands

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// autoDeploys queues the deploys a push asks for: to every environment
// whose deploy stage in the default branch's .gantry.yml, or whose server
// config, says on_push: true, and whose branch is the pushed one. Each
// deploy follows build (the push's branch build): it starts once the build
// succeeded, through the same policy, approval, lock and credentials as a
// typed deploy, and ends cancelled when the build does not succeed. A
// deploy a push started that has not started yet is superseded by the
// next push's.
func (w *Webhooks) autoDeploys(ctx context.Context, log *slog.Logger, ev *scm.WebhookEvent, name string, rc spec.Repo, build *jobs.Job) error {
	wanted := map[string]bool{}
	for env, e := range w.s.cfg(ctx).Environments {
		if e.OnPush {
			wanted[env] = true
		}
	}
	def, err := w.s.sources.Resolve(ctx, name, "", false)
	if err != nil {
		if permanent(err) {
			log.Warn("push to deploy: cannot read the default branch", "err", err)
			return nil
		}
		return err
	}
	f, err := def.Parse()
	if err != nil {
		log.Warn("push to deploy: nothing deployed: the default branch's .gantry.yml is not valid", "err", err)
		return nil
	}
	for _, env := range f.Environments() {
		if p, err := f.Deploy(env); err == nil && p.OnPush {
			wanted[env] = true
		}
	}
	var errs []error
	for _, env := range slices.Sorted(maps.Keys(wanted)) {
		stage, err := f.Deploy(env)
		if err != nil {
			log.Warn("push to deploy: the default branch's .gantry.yml has no deploy stage for an on_push environment", "env", env)
			continue
		}
		if branch := cmp.Or(w.s.cfg(ctx).Environments[env].Branch, stage.Branch, def.Ref); branch != ev.Branch {
			continue
		}
		if err := w.supersede(ctx, log, name, env, build); err != nil {
			errs = append(errs, err)
		}
		r := &Request{Auto: "push", Channel: rc.Channel}
		j, err := w.s.queueDeploy(ctx, r, &Command{Verb: VerbDeploy, Repo: name, Ref: ev.SHA, Branch: ev.Branch, Env: env, After: build.ID}, "")
		var ue *jobs.UserError
		switch {
		case errors.As(err, &ue):
			log.Warn("push to deploy: not deployed", "env", env, "why", ue.Msg.String())
		case err != nil:
			errs = append(errs, fmt.Errorf("deploy %s to %s: %w", name, env, err))
		default:
			log.Info("push to deploy: queued a deploy after the build", "env", env, "job", j.ID, "build", build.ID)
		}
	}
	return errors.Join(errs...)
}

// supersede cancels the deploys of repo to env that an earlier push
// started and that have not started yet: the newer push's deploy replaces
// them.
func (w *Webhooks) supersede(ctx context.Context, log *slog.Logger, repo, env string, build *jobs.Job) error {
	active, err := w.s.store.Active(ctx)
	if err != nil {
		return err
	}
	for _, j := range active {
		if j.Kind != jobs.Deploy || j.Origin != "push" || j.Repo != repo || j.Env != env || j.State == jobs.Running || j.Handle != "" {
			continue
		}
		by := fmt.Sprintf("a newer push to %s (build %s)", build.Ref, build.Name())
		if _, err := w.s.store.Cancel(ctx, j.ID, by); err != nil && !errors.Is(err, jobs.ErrConflict) && !errors.Is(err, jobs.ErrNotFound) {
			return err
		}
		log.Info("push to deploy: a newer push superseded a deploy", "job", j.ID)
	}
	return nil
}
