package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/bot/slack"
	"github.com/gantry-ci/gantry/jobs"
)

// runServe runs the Slack bot, the workers and the HTTP server in one process.
func (m *Main) runServe(ctx context.Context, args []string) error {
	return m.runSlack(ctx, true)
}

// runBot runs the Slack bot and the HTTP server without workers.
func (m *Main) runBot(ctx context.Context, args []string) error {
	return m.runSlack(ctx, false)
}

// slackClient reads SLACK_APP_TOKEN, SLACK_BOT_TOKEN and SLACK_API_URL and
// returns the Web API client they make.
func (m *Main) slackClient() (*goslack.Client, error) {
	app, botToken := m.Getenv("SLACK_APP_TOKEN"), m.Getenv("SLACK_BOT_TOKEN")
	switch {
	case app == "":
		return nil, &settingError{"SLACK_APP_TOKEN", "is not set: Socket Mode needs the app-level token (xapp-…) with connections:write"}
	case !strings.HasPrefix(app, "xapp-"):
		return nil, &settingError{"SLACK_APP_TOKEN", "is not an app-level token: it starts with xapp- (Basic Information → App-Level Tokens)"}
	case botToken == "":
		return nil, &settingError{"SLACK_BOT_TOKEN", "is not set: the Web API needs the bot token (xoxb-…)"}
	case !strings.HasPrefix(botToken, "xoxb-"):
		return nil, &settingError{"SLACK_BOT_TOKEN", "is not a bot token: it starts with xoxb- (OAuth & Permissions → Bot User OAuth Token)"}
	}
	opts := []goslack.Option{goslack.OptionAppLevelToken(app)}
	if api := m.Getenv("SLACK_API_URL"); api != "" {
		u, err := url.Parse(api)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, &settingError{"SLACK_API_URL", fmt.Sprintf("%q is not an http(s) URL such as https://slack.com/api/", api)}
		}
		if !strings.HasSuffix(api, "/") {
			api += "/"
		}
		opts = append(opts, goslack.OptionAPIURL(api))
	}
	// A Slack that accepts a call and never answers must not hold a
	// thread's message, a reload or start-up for ever.
	opts = append(opts, goslack.OptionHTTPClient(&http.Client{Timeout: cmp.Or(m.slackTimeout, slackCallTimeout)}))
	return goslack.New(botToken, opts...), nil
}

// slackCallTimeout bounds one Slack Web API call, a file upload included.
const slackCallTimeout = time.Minute

// slackIdentity checks both tokens with Slack before anything starts, so a
// wrong one stops start-up with one line that names it.
func (m *Main) slackIdentity(ctx context.Context, api *goslack.Client) (*goslack.AuthTestResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	who, err := api.AuthTestContext(ctx)
	if err != nil {
		return nil, slackSettingError("SLACK_BOT_TOKEN", err)
	}
	// A Socket Mode URL may be asked for and left unused; each works once.
	if _, _, err := socketmode.New(api).OpenContext(ctx); err != nil {
		return nil, slackSettingError("SLACK_APP_TOKEN", err)
	}
	return who, nil
}

// slackSettingError names the setting behind a refused Slack call.
func slackSettingError(setting string, err error) error {
	var se goslack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "not_allowed_token_type":
			return &settingError{setting, "Slack says it is the wrong kind of token (not_allowed_token_type)"}
		case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired":
			return &settingError{setting, fmt.Sprintf("Slack refused it (%s): check the token and that the app is installed in the workspace", se.Err)}
		}
		return &settingError{setting, fmt.Sprintf("Slack answered %s", se.Err)}
	}
	return &settingError{"SLACK_API_URL", fmt.Sprintf("cannot reach Slack: %v", err)}
}

// runSlack serves Slack: Socket Mode requests, the threads of jobs, the HTTP
// server, and with workers the jobs themselves.
func (m *Main) runSlack(ctx context.Context, withWorkers bool) error {
	api, err := m.slackClient()
	if err != nil {
		return err
	}
	who, err := m.slackIdentity(ctx, api)
	if err != nil {
		return err
	}
	if withWorkers {
		if err := m.checkLocalTrust(); err != nil {
			return err
		}
	}
	p, err := m.build(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sched := slack.NewScheduler(slack.SchedulerConfig{Logger: m.logger, OnFatal: func(err error) {
		cancel(&slack.AuthError{Token: "bot", Err: err})
	}, Failed: func(method string) {
		if p.metrics != nil {
			p.metrics.CallErrors.WithLabelValues("slack", method).Inc()
		}
	}})
	defer sched.Close()
	// Before the webhook service is made: it marks the jobs of private
	// channels as private too.
	p.groups = slack.NewGroups(api, sched, 0)
	p.channels = slack.NewPeople(api, sched, 0)
	gh, err := m.setupGitHub(p)
	if err != nil {
		return err
	}
	if err := m.useConfig(ctx, p, slackNames(api, sched, m.logger)); err != nil {
		return err
	}
	p.names = slack.NewNames(api, sched, p.store, 0, m.logger)
	srv, l, err := m.webServer(ctx, p, ":8080", gh.webhook())
	if err != nil {
		return err
	}
	evs, err := m.setupEvents(ctx, p)
	if err != nil {
		return err
	}
	var w *jobs.Worker
	switch {
	case withWorkers:
		if w, err = m.worker(ctx, p); err != nil {
			return err
		}
	case p.cfg.Runner.Kind == "ecs":
		// A bot apart from the workers runs no jobs, but `stop #N` and the
		// expiry sweep run here: it needs the ECS runner's StopTask to end
		// a preview's task. The runner is built, never run.
		if _, err := m.ecsRunner(ctx, p); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	consumer := host + "/" + strconv.Itoa(os.Getpid())
	surface := slack.NewSurface(api, sched, slack.SurfaceConfig{
		Leases: p.store.Claims(consumer, 0), Logger: m.logger,
		Refresh: func(ctx context.Context, msg bot.Message) (bot.Message, error) {
			j, err := p.store.Get(ctx, msg.Card.Job)
			if err != nil {
				return msg, err
			}
			link := ""
			if p.links != nil {
				link = p.links.Job(j.ID)
			}
			return bot.JobMessage(j, p.store.Now(), link), nil
		},
	})
	svc := m.service(p, surface)
	threads := bot.NewThreads(p.store, p.log, surface, bot.ThreadsConfig{
		Links: p.jobLink(), ArtifactLinks: p.artifactLink(), Logger: m.logger, UploadFailed: true, QuietUnasked: true, Claim: p.store.FirstSeen, Unclaim: p.store.Forget,
		Authors: &bot.Authors{Commits: p.sources, Users: func() map[string]string { return p.live.Load().Users }, Email: slack.NewEmails(api, sched)},
	})
	front := slack.New(slack.Config{
		Socket: socketmode.New(api), Service: svc, Store: p.store, Surface: surface, BotUserID: who.UserID, Logger: m.logger,
		Members: slack.NewMembership(api, sched, 0),
		Acked: func(d time.Duration) {
			if p.metrics != nil {
				p.metrics.AckLatency.Observe(d.Seconds())
			}
		},
	})
	// Jobs asked for from now on are shown, even before the first read.
	if err := p.store.CreateEventGroup(ctx, "slack"); err != nil {
		return err
	}
	m.logger.Info("gantry is serving Slack", "team", who.Team, "bot", who.User, "workers", withWorkers)

	var wg sync.WaitGroup
	gh.start(ctx, &wg) // commit statuses and deployments, before any job can move
	if err := evs.start(ctx, &wg); err != nil {
		cancel(err)
	}
	run := func(f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				cancel(err)
			}
		}()
	}
	run(func() error { return front.Run(ctx) })
	run(func() error { return threads.ConsumeGroup(ctx, bot.GroupConfig{Consumer: consumer}) })
	run(func() error { m.chores(ctx, p, svc); return nil })
	run(func() error { return srv.Serve(ctx, l) })
	if w != nil {
		run(func() error { return w.Run(ctx) })
	}
	<-ctx.Done()
	wg.Wait()
	threads.Close()
	cause := context.Cause(ctx)
	var ae *slack.AuthError
	switch {
	case errors.As(cause, &ae) && ae.Token == "app":
		return slackSettingError("SLACK_APP_TOKEN", ae.Err)
	case errors.As(cause, &ae):
		return slackSettingError("SLACK_BOT_TOKEN", ae.Err)
	case errors.Is(cause, context.Canceled):
		return nil
	}
	return cause
}
