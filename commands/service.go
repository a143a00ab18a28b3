package commands

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// Request is one thing a person asked, from whatever front end.
type Request struct {
	User     string // Slack user ID, or the console's user
	Channel  string // where it was typed; "console" in the console
	ThreadTS string // the thread it was typed in, if any
	Console  bool   // typed in the terminal console: local paths allowed, the person is an admin
	// Auto says what asked when no person did: "schedule" (a schedule of
	// the server config) or "push" (a push to a branch that deploys). No
	// person's permissions are checked; approval still is.
	Auto string
	Text string
}

// Reply is what gantry answers. Front ends decide how to show it.
type Reply struct {
	Text      say.Text
	Ephemeral bool   // only the person sees it
	ThreadTS  string // answer in this thread
	File      *File  // an attachment (a whole log)
	Job       int64  // the job the reply is about, if any
}

// File is an attachment to a reply.
type File struct {
	Name    string
	Title   string
	Content []byte
}

// Sources resolves repositories; *scm.Resolver is the real one.
type Sources interface {
	Resolve(ctx context.Context, repo, ref string, allowPaths bool) (*scm.Source, error)
	// Contains reports whether commit sha of repo is on branch.
	Contains(ctx context.Context, repo, branch, sha string) (bool, error)
}

// Channels tells who is in a Slack channel and whether it is private;
// *slack.People (bot/slack) is the real one.
type Channels interface {
	InChannel(ctx context.Context, channel, user string) (bool, error)
	Private(ctx context.Context, channel string) bool
}

// Groups tells who is in a Slack user group.
type Groups interface {
	Members(ctx context.Context, group string) ([]string, error)
}

// Handler acts on one parsed command.
type Handler func(ctx context.Context, r *Request, c *Command) (Reply, error)

// Service holds what the handlers act on, and the registry of handlers.
type Service struct {
	live           *atomic.Pointer[spec.Server] // the server config; see cfg
	store          *jobs.Store
	log            *jobs.Log
	sources        Sources
	groups         Groups
	channels       Channels
	links          func(id int64) string
	listLink       func() string
	now            func() time.Time
	logger         *slog.Logger
	handlers       map[Verb]Handler
	pools          Pools
	notices        Notices
	previewStopper PreviewStopper
	previewLinks   func(id int64) string
	// scheduler is set by Scheduler, before the service answers anyone.
	scheduler *Scheduler
}

// Deps are a Service's dependencies. Groups and Links may be nil.
type Deps struct {
	// Config is the server config; Live, when set, holds it instead and
	// may be swapped for a new one at any time (a reload): the service
	// reads it afresh for each use.
	Config  *spec.Server
	Live    *atomic.Pointer[spec.Server]
	Store   *jobs.Store
	Log     *jobs.Log
	Sources Sources
	Groups  Groups
	// Channels answers channel membership for who may see a job; nil (the
	// console, tests) means only the channel's own requests count.
	Channels Channels
	Links    func(id int64) string // the signed link to a job's page
	// ListLink is the signed link to the list of recent jobs; nil: none.
	ListLink func() string
	Pools    Pools // nil: no resource pools
	// Notices says a lock's reminder and its end where it was taken; nil:
	// they are audited only.
	Notices Notices
	// PreviewStopper ends the app of a preview that stop closes; nil:
	// the owning process's next sweep does.
	PreviewStopper PreviewStopper
	// PreviewLink is the (signed) link to job id's preview; nil: /preview/N/.
	PreviewLink func(id int64) string
	Logger      *slog.Logger
}

// NewService returns the command service.
func NewService(d Deps) *Service {
	s := &Service{
		live: d.Live, store: d.Store, log: d.Log, sources: d.Sources, groups: d.Groups,
		channels: d.Channels, links: d.Links, listLink: d.ListLink, now: d.Store.Now, logger: d.Logger, pools: d.Pools,
		notices: d.Notices, previewStopper: d.PreviewStopper, previewLinks: d.PreviewLink,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.live == nil {
		s.live = new(atomic.Pointer[spec.Server])
		s.live.Store(d.Config)
	}
	s.handlers = map[Verb]Handler{
		VerbBuild:     s.build,
		VerbDeploy:    s.deploy,
		VerbRollback:  s.rollback,
		VerbEnvs:      s.envs,
		VerbRun:       s.run,
		VerbLogs:      s.logs,
		VerbStatus:    s.status,
		VerbQueue:     s.queue,
		VerbCancel:    s.cancel,
		VerbRetry:     s.retry,
		VerbApprove:   s.approve,
		VerbReject:    s.reject,
		VerbPool:      s.pool,
		VerbLock:      s.lock,
		VerbUnlock:    s.unlock,
		VerbAudit:     s.audit,
		VerbHelp:      s.help,
		VerbSchedules: s.schedules,
		VerbPreview:   s.preview,
		VerbStop:      s.stop,
	}
	return s
}

// configKey is the context key of the server config one request acts on.
type configKey struct{}

// pin returns ctx holding the server config in use now, unless it holds
// one already. Everything a request decides then reads that one config,
// even when a reload swaps it meanwhile: a deploy reads .gantry.yml from
// the repo between its permission check and its approval rule, and must
// not take one from the old config and the other from the new.
func (s *Service) pin(ctx context.Context) context.Context {
	if _, ok := ctx.Value(configKey{}).(*spec.Server); ok {
		return ctx
	}
	return context.WithValue(ctx, configKey{}, s.live.Load())
}

// cfg is the server config ctx's request acts on (see pin); outside a
// request, the one in use now.
func (s *Service) cfg(ctx context.Context) *spec.Server {
	if c, ok := ctx.Value(configKey{}).(*spec.Server); ok {
		return c
	}
	return s.live.Load()
}

// Handle parses the request's text and acts on it. It always answers:
// a reply for the person, or an empty Reply when the text was not for gantry.
func (s *Service) Handle(ctx context.Context, r *Request) Reply {
	res := Parse(r.Text)
	switch {
	case res.Ignore:
		return Reply{}
	case res.Command == nil:
		return Reply{Text: say.Words(res.Reply), Ephemeral: true}
	}
	return s.Do(ctx, r, res.Command)
}

// Do acts on a parsed command (buttons and reactions come here directly).
func (s *Service) Do(ctx context.Context, r *Request, c *Command) Reply {
	ctx = s.pin(ctx)
	h, ok := s.handlers[c.Verb]
	if !ok {
		return Reply{Text: say.Words(HelpText("")), Ephemeral: true}
	}
	rep, err := h(ctx, r, c)
	if err != nil {
		var ue *jobs.UserError
		if !errors.As(err, &ue) {
			s.logger.Error("command failed", "verb", c.Verb, "user", r.User, "job", c.Job, "err", err)
		}
		return Reply{Text: jobs.UserMessage(err, c.Job), Ephemeral: true}
	}
	return rep
}

// Verbs lists the verbs that have handlers, for tests of the registry.
func (s *Service) HandledVerbs() []Verb {
	out := make([]Verb, 0, len(s.handlers))
	for v := range s.handlers {
		out = append(out, v)
	}
	return out
}
