package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
	"github.com/gantry-ci/gantry/web"
)

// githubClient is the GitHub API client GITHUB_TOKEN and GITHUB_API_URL
// make, or nil when GITHUB_TOKEN is not set.
func (m *Main) githubClient() (*scm.GitHub, error) {
	token := m.Getenv("GITHUB_TOKEN")
	if token == "" {
		return nil, nil
	}
	api := m.Getenv("GITHUB_API_URL")
	if api != "" {
		u, err := url.Parse(api)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &settingError{"GITHUB_API_URL", fmt.Sprintf("%q is not an http(s) URL such as https://github.example.com/api/v3", api)}
		}
	}
	gh, err := scm.NewGitHub(scm.GitHubConfig{Token: token, APIURL: api, Logger: m.logger, ReadFailed: func(call string) {
		m.metrics.Load().CallError("github", call) // nil until the HTTP server is up: then nothing is counted
	}})
	if err != nil {
		return nil, &settingError{"GITHUB_TOKEN", err.Error()}
	}
	return gh, nil
}

// githubReader is gh as the resolver takes it: no reader at all without
// GitHub access.
func githubReader(gh *scm.GitHub) scm.GitHubReader {
	if gh == nil {
		return nil
	}
	return gh
}

// githubParts report to GitHub and take its webhooks in a process that
// reads job events (console, serve, bot). The zero value, for gantry
// without GitHub access, does nothing.
type githubParts struct {
	m        *Main
	p        *parts
	reporter *scm.Reporter // nil without GitHub access
	inbox    *web.Inbox    // accepted webhooks; nil: webhooks are off
	hook     http.Handler  // nil: webhooks are off
}

// setupGitHub checks the GitHub settings against the repos and builds the
// reporter, the notifier and the webhook handler. Call it before
// webServer, pass it webhook(), and call start once webServer has made the
// links:
//
//	gh, err := m.setupGitHub(p)
//	srv, l, err := m.webServer(ctx, p, addr, gh.webhook())
//	gh.start(ctx, &wg)
func (m *Main) setupGitHub(p *parts) (*githubParts, error) {
	g := &githubParts{m: m, p: p}
	secret := m.Getenv("GITHUB_WEBHOOK_SECRET")
	if p.github == nil {
		if err := m.checkLocalRepos(p.cfg); err != nil {
			return nil, err
		}
		if secret != "" {
			m.logger.Warn("GITHUB_WEBHOOK_SECRET is set without GITHUB_TOKEN: webhooks build from the repos' local paths, which must have the pushed commits already, and nothing is reported to GitHub")
		}
	} else {
		g.reporter = scm.NewReporter(p.github, p.store, p.redis, scm.ReporterConfig{Namespace: p.namespace, Logger: m.logger, CallFailed: g.callFailed})
	}
	switch {
	case secret != "":
		svc := m.service(p, nil)
		g.inbox = web.NewInbox(p.redis, web.InboxConfig{Namespace: p.namespace, Handle: svc.Webhooks(g.reporter).Handle, Logger: m.logger})
		g.hook = web.GitHubWebhook(web.WebhookConfig{Secret: []byte(secret), Inbox: g.inbox, Logger: m.logger})
		m.logger.Info("GitHub webhooks are on: POST /webhooks/github")
	case p.github != nil:
		m.logger.Warn("GitHub webhooks are off: GITHUB_WEBHOOK_SECRET is not set; builds are reported to GitHub, but pushes and pull requests start nothing")
	}
	return g, nil
}

// checkLocalRepos stops start-up when a repo can be read only through
// GitHub and there is no GitHub access, and says which repos the ecs runner
// will not be able to run.
func (m *Main) checkLocalRepos(cfg *spec.Server) error {
	var fromPath []string
	for _, name := range slices.Sorted(maps.Keys(cfg.Repos)) {
		rc := cfg.Repos[name]
		if rc.GitHub == "" {
			continue
		}
		if rc.Path == "" {
			return &settingError{"GITHUB_TOKEN", fmt.Sprintf("is not set, and repo %s is on GitHub only (github: %s, no path): set GITHUB_TOKEN, or give the repo a path", name, rc.GitHub)}
		}
		fromPath = append(fromPath, name)
	}
	if len(fromPath) > 0 && cfg.Runner.Kind == "ecs" {
		m.logger.Warn("GITHUB_TOKEN is not set: these repos are read from their local paths, which the ecs runner cannot clone inside a task", "repos", strings.Join(fromPath, ", "))
	}
	return nil
}

// webhook is the handler of POST /webhooks/github, or nil when webhooks are
// off.
func (g *githubParts) webhook() http.Handler {
	if g == nil || g.hook == nil {
		return nil
	}
	return g.hook
}

// callFailed counts a GitHub call that failed, once webServer has made
// the metrics (before start: nothing calls GitHub earlier).
func (g *githubParts) callFailed(call string) {
	g.p.metrics.CallError("github", call)
}

// start joins the events the notifier reports, so that every job from now
// on is reported, and runs the notifier, the reporter and the webhook
// inbox's consumer until ctx ends; then it reports what was announced
// before the end and lets the reporter deliver what is due for a few
// seconds (the rest waits in Redis for the next start). p.links must be
// made (webServer) before: statuses link to job pages.
func (g *githubParts) start(ctx context.Context, wg *sync.WaitGroup) {
	if g == nil {
		return
	}
	if g.p.metrics != nil && g.reporter != nil {
		g.p.metrics.OutboxDepth(g.reporter.Depth)
	}
	if g.p.metrics != nil && g.inbox != nil {
		g.p.metrics.WebhookBacklog(g.inbox.Backlog)
	}
	g.startReporting(ctx, wg)
	if g.inbox != nil {
		// After the notifier has joined the events: the jobs webhooks
		// start are reported from their first state on.
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.inbox.Run(ctx) }()
	}
}

// startReporting runs the notifier and the reporter.
func (g *githubParts) startReporting(ctx context.Context, wg *sync.WaitGroup) {
	if g.reporter == nil {
		return
	}
	m, p := g.m, g.p
	n := scm.NewNotifier(p.store, g.reporter, scm.NotifierConfig{Links: p.jobLink(), Logger: m.logger})
	if err := n.Drain(ctx); err != nil {
		// Run reads again and says so if it keeps failing.
		m.logger.Error("join the job events for GitHub", "err", err)
	}
	repCtx, stopReporter := context.WithCancel(context.WithoutCancel(ctx))
	wg.Add(2)
	go func() { defer wg.Done(); g.reporter.Run(repCtx) }()
	go func() {
		defer wg.Done()
		defer stopReporter()
		_ = n.Run(ctx)
		// Jobs that ended just before the stop are still reported.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := n.Drain(dctx); err != nil {
			m.logger.Error("report the last job events to GitHub", "err", err)
		}
	}()
}
