package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot/slack"
	"github.com/gantry-ci/gantry/spec"
)

// nameResolver turns the @names and #channels of a config into what this
// mode compares people and channels with.
type nameResolver func(ctx context.Context, cfg *spec.Server) (*spec.Server, error)

// consoleNames: in the console @alice is the console user alice ($USER).
func consoleNames(_ context.Context, cfg *spec.Server) (*spec.Server, error) {
	return cfg.ConsoleNames(), nil
}

// keptNames leaves names as written: a worker acts on no person or
// channel (approvals, permissions and channels are the bot's), so it has
// nothing to ask Slack.
func keptNames(_ context.Context, cfg *spec.Server) (*spec.Server, error) { return cfg, nil }

// slackNames resolves names against the workspace, reading users,
// user groups and channels once per call, and only the lists the config's
// names need.
func slackNames(api *goslack.Client, sched *slack.Scheduler, logger *slog.Logger) nameResolver {
	return func(ctx context.Context, cfg *spec.Server) (*spec.Server, error) {
		people, channels := cfg.NeedsWorkspace()
		if !people && !channels {
			return cfg, nil
		}
		w, err := slack.ReadWorkspace(ctx, api, sched, people, channels)
		if err != nil {
			return nil, fmt.Errorf("resolve the names in the server config: %w", err)
		}
		for _, warning := range cfg.ByDisplayName(w) {
			logger.Warn("config: a person named by display name: " + warning)
		}
		return cfg.ResolveNames(w)
	}
}

// reloader swaps a new server config in: see Main.reload.
type reloader struct {
	p     *parts
	names nameResolver
	mu    sync.Mutex // one reload at a time
}

// useConfig resolves the names of the config the process starts with,
// makes it the one in use, and from then on reloads it on SIGHUP until ctx
// ends. A name that cannot be resolved stops start-up.
func (m *Main) useConfig(ctx context.Context, p *parts, names nameResolver) error {
	cfg, err := names(ctx, p.cfg)
	if err != nil {
		return err
	}
	p.cfg = cfg
	p.live.Store(cfg)
	m.reloading.Store(&reloader{p: p, names: names})
	ctx, stop := context.WithCancel(ctx)
	m.onClose(func() error { stop(); return nil })
	if m.hup == nil {
		m.catchHUP()
	}
	hup := m.hup
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				_ = m.reload(ctx)
			}
		}
	}()
	return nil
}

// catchHUP catches SIGHUP from the start of a command that runs until
// stopped: Go's default for it is to exit, and a SIGHUP meant as "reload"
// may come while gantry is still connecting to Redis or Slack. One that
// comes before the config is in use is acted on once it is.
func (m *Main) catchHUP() {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	m.hup = hup
	m.onClose(func() error { signal.Stop(hup); return nil })
}

// reload reads GANTRY_CONFIG again, validates it, resolves its names and
// swaps it in for the requests that come next. On any error it logs one
// line with the problems and keeps the config in use. What this process
// read once at start (see restartOnly) keeps its running value, with a
// warning per changed key.
func (m *Main) reload(ctx context.Context) error {
	r := m.reloading.Load()
	if r == nil {
		return errors.New("nothing to reload: gantry has not started")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := m.loadConfig()
	if err == nil {
		next, err = r.names(ctx, next)
	}
	if err != nil {
		m.logger.Error("config not reloaded, keeping the one in use: "+strings.ReplaceAll(err.Error(), "\n", "; "), "setting", "GANTRY_CONFIG")
		return err
	}
	applied, restart := restartOnly(r.p.cfg, next)
	for _, key := range restart {
		m.logger.Warn("config reload: this change needs a restart; the running value is kept", "key", key)
	}
	old := r.p.live.Swap(applied)
	m.logger.Info("config reloaded", "changed", changedPolicy(old, applied), "needs_restart", strings.Join(restart, ", "))
	return nil
}

// restartOnly returns next with what this process built its parts from
// at start (runner and workers, pools, retries, retention, artifacts,
// events, previews, job pages, the queue of each environment, repos'
// concurrency, secrets) put back to the started config's values, and the
// keys of those that differ.
func restartOnly(started, next *spec.Server) (*spec.Server, []string) {
	out := *next
	var keys []string
	keep := func(key string, run, nxt any, put func()) {
		if !reflect.DeepEqual(run, nxt) {
			keys = append(keys, key)
			put()
		}
	}
	keep("runner", started.Runner, next.Runner, func() { out.Runner = started.Runner })
	keep("workers", started.Workers, next.Workers, func() { out.Workers = started.Workers })
	keep("pools", started.Pools, next.Pools, func() {
		out.Pools = started.Pools
		for _, name := range slices.Sorted(maps.Keys(next.Pools)) {
			if _, ok := started.Pools[name]; !ok {
				out.Unstarted.Pools = append(out.Unstarted.Pools, name)
			}
		}
	})
	keep("retry", started.Retry, next.Retry, func() { out.Retry = started.Retry })
	keep("retention", started.Retention, next.Retention, func() { out.Retention = started.Retention })
	keep("artifacts", started.Artifacts, next.Artifacts, func() { out.Artifacts = started.Artifacts })
	keep("events", started.Events, next.Events, func() { out.Events = started.Events })
	keep("previews", started.Previews, next.Previews, func() { out.Previews = started.Previews })
	keep("web", started.Web, next.Web, func() { out.Web = started.Web })

	out.Repos = make(map[string]spec.Repo, len(next.Repos))
	for _, name := range slices.Sorted(maps.Keys(next.Repos)) {
		r, was := next.Repos[name], started.Repos[name]
		keep("repos."+name+".concurrency", was.Concurrency, r.Concurrency, func() { r.Concurrency = was.Concurrency })
		keep("repos."+name+".secrets", was.Secrets, r.Secrets, func() { r.Secrets = was.Secrets })
		out.Repos[name] = r
	}
	out.Environments = make(map[string]spec.Environment, len(next.Environments))
	for _, name := range slices.Sorted(maps.Keys(next.Environments)) {
		e := next.Environments[name]
		was, ok := started.Environments[name]
		if !ok {
			// Deploys to it would run without its one-at-a-time queue.
			keys = append(keys, "environments."+name+" (a new environment)")
			out.Unstarted.Environments = append(out.Unstarted.Environments, name)
			continue
		}
		keep("environments."+name+".secrets", was.Secrets, e.Secrets, func() { e.Secrets = was.Secrets })
		out.Environments[name] = e
	}
	return &out, keys
}

// changedPolicy says what a reload changed of what it applies, for the
// log: "admins, environments.prod, repos.hello", or "nothing".
func changedPolicy(old, cur *spec.Server) string {
	var out []string
	diff := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, key)
		}
	}
	diff("admins", old.Admins, cur.Admins)
	diff("users", old.Users, cur.Users)
	diff("limits", old.Limits, cur.Limits)
	diff("schedules", old.Schedules, cur.Schedules)
	for _, name := range slices.Sorted(maps.Keys(cur.Repos)) {
		diff("repos."+name, old.Repos[name], cur.Repos[name])
	}
	for _, name := range slices.Sorted(maps.Keys(old.Repos)) {
		if _, ok := cur.Repos[name]; !ok {
			out = append(out, "repos."+name+" (removed)")
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cur.Environments)) {
		diff("environments."+name, old.Environments[name], cur.Environments[name])
	}
	for _, name := range slices.Sorted(maps.Keys(old.Environments)) {
		if _, ok := cur.Environments[name]; !ok {
			out = append(out, "environments."+name+" (removed)")
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, ", ")
}
