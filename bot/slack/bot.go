package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// AuthError says Slack refused one of gantry's tokens, so nothing can work
// until someone fixes the setting. Token is "app" (Socket Mode) or "bot"
// (the Web API).
type AuthError struct {
	Token string
	Err   error
}

func (e *AuthError) Error() string {
	return fmt.Sprintf("Slack refused the %s token: %v", e.Token, e.Err)
}

func (e *AuthError) Unwrap() error { return e.Err }

// Config configures the Slack front end. Zero values are the defaults.
type Config struct {
	Socket  *socketmode.Client
	Service *commands.Service
	Store   *jobs.Store
	Surface *Surface
	// Members, when set, checks that the bot is in the channel of a slash
	// command that would start a job there.
	Members *Membership
	// BotUserID is gantry's own user (from auth.test): its messages and
	// reactions are not requests.
	BotUserID string
	Handlers  int           // requests handled at once; 0 is 16
	Queue     int           // acknowledged requests waiting for a handler; 0 is 4096
	DedupeFor time.Duration // how long a redelivery is recognised; 0 is 1h
	// Grace is how long queued requests are still handled after Run's
	// context ends; 0 is 10s.
	Grace time.Duration
	// Acked, when set, is told how long each envelope waited between its
	// arrival in gantry and its ack (the ack latency metric).
	Acked  func(time.Duration)
	Logger *slog.Logger
}

// Bot is gantry's Slack front end: it reads Socket Mode, acknowledges
// every envelope at once, and hands what people asked to a bounded pool of
// handlers that answer through the same commands.Service as the console.
type Bot struct {
	cfg Config
	sm  *socketmode.Client
	log *slog.Logger
}

// New returns the Slack front end.
func New(cfg Config) *Bot {
	if cfg.Handlers <= 0 {
		cfg.Handlers = 16
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.DedupeFor <= 0 {
		cfg.DedupeFor = time.Hour
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Bot{cfg: cfg, sm: cfg.Socket, log: cfg.Logger}
}

// Run serves Slack until ctx ends (nil) or Slack refuses the app token
// (*AuthError).
func (b *Bot) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan input, b.cfg.Queue)
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	defer hcancel()
	var wg sync.WaitGroup
	for range b.cfg.Handlers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for in := range work {
				b.handle(hctx, in)
			}
		}()
	}
	connErr := make(chan error, 1)
	connDone := make(chan struct{})
	go func() {
		defer close(connDone)
		connErr <- b.connect(ctx)
	}()

	err := b.loop(ctx, work, connErr)
	cancel()
	<-connDone
	close(work)
	// Requests already acknowledged are still handled, for a while.
	stop := time.AfterFunc(b.cfg.Grace, hcancel)
	defer stop.Stop()
	wg.Wait()
	return err
}

// loop acknowledges and converts events; it never calls Slack or Redis.
func (b *Bot) loop(ctx context.Context, work chan<- input, connErr <-chan error) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-connErr:
			return err
		case ev := <-b.sm.Events:
			arrived := time.Now()
			switch ev.Type {
			case socketmode.EventTypeEventsAPI, socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
				if ev.Request != nil {
					// An empty ack: Slack drops ack payloads of 20 KB or more.
					if err := b.sm.AckCtx(ctx, ev.Request.EnvelopeID, nil); err != nil {
						return nil // ctx ended
					}
					if b.cfg.Acked != nil {
						b.cfg.Acked(time.Since(arrived))
					}
				}
				in, ok := convert(ev, b.cfg.BotUserID)
				if !ok {
					continue
				}
				select {
				case work <- in:
				default:
					b.log.Warn("every Slack handler is busy; requests wait", "queued", len(work))
					select {
					case work <- in:
					case <-ctx.Done():
						return nil
					}
				}
			case socketmode.EventTypeConnected:
				b.log.Info("connected to Slack (Socket Mode)")
			case socketmode.EventTypeDisconnect:
				b.log.Info("Slack asked to reconnect")
			case socketmode.EventTypeConnectionError:
				b.log.Warn("cannot connect to Slack; trying again", "err", eventErr(ev))
			case socketmode.EventTypeIncomingError, socketmode.EventTypeErrorWriteFailed, socketmode.EventTypeErrorBadMessage:
				b.log.Warn("Socket Mode trouble", "event", ev.Type, "err", eventErr(ev))
			}
		}
	}
}

func eventErr(ev socketmode.Event) any {
	switch d := ev.Data.(type) {
	case *goslack.ConnectionErrorEvent:
		return d.ErrorObj
	case *goslack.IncomingEventError:
		return d.ErrorObj
	case *socketmode.ErrorWriteFailed:
		return d.Cause
	case *socketmode.ErrorBadMessage:
		return d.Cause
	}
	return ev.Data
}

// connect runs Socket Mode. slack-go reconnects by itself (asking for a new
// URL each time); RunContext returns only when ctx ends or Slack refuses the
// app token. Anything else it returns is retried here, with backoff.
func (b *Bot) connect(ctx context.Context) error {
	backoff := time.Second
	for {
		err := b.sm.RunContext(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var sc goslack.StatusCodeError
		if IsFatalAuth(err) || (errors.As(err, &sc) && sc.Code == http.StatusNotFound) {
			return &AuthError{Token: "app", Err: err}
		}
		b.log.Warn("Socket Mode stopped; connecting again", "err", err, "in", backoff)
		if sleep(ctx, backoff) != nil {
			return nil
		}
		backoff = min(2*backoff, time.Minute)
	}
}

// handle acts on one request: once per person's action, however often
// Slack delivers it.
func (b *Bot) handle(ctx context.Context, in input) {
	if in.dedupe != "" {
		first, err := b.cfg.Store.FirstSeen(ctx, "slack:"+in.dedupe, b.cfg.DedupeFor)
		if err != nil {
			b.log.Error("record Slack delivery", "user", in.user, "err", err)
			b.answer(ctx, in, commands.Reply{Text: "gantry cannot reach its store just now; please try again in a minute.", Ephemeral: true})
			return
		}
		if !first {
			b.log.Debug("Slack delivered a request again; it was handled", "id", in.dedupe)
			return
		}
	}
	rep, ok := b.act(ctx, in)
	if !ok {
		return
	}
	if rep.Text == "" {
		rep = commands.Reply{Text: say.Words(commands.HelpText("")), Ephemeral: true}
	}
	b.answer(ctx, in, rep)
}

// indexWait bounds how long a reaction on one of the bot's messages waits
// for the message's job to be recorded: a reaction can come as soon as the
// message shows, before the process that posted it has written its index.
const indexWait = 5 * time.Second

// jobOfMessage finds the job whose message a reaction is on.
func (b *Bot) jobOfMessage(ctx context.Context, in input) (int64, error) {
	deadline := time.Now().Add(indexWait)
	for {
		id, err := b.cfg.Store.JobByMessage(ctx, in.channel, in.messageTS)
		if !errors.Is(err, jobs.ErrNotFound) || !in.onBot || time.Now().After(deadline) {
			return id, err
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// act runs the request through the command service. It reports false for a
// reaction on a message that is not a job's.
func (b *Bot) act(ctx context.Context, in input) (commands.Reply, bool) {
	req := &commands.Request{User: in.user, Channel: in.channel, ThreadTS: in.threadTS, Text: in.text}
	svc := b.cfg.Service
	switch {
	case in.kind == fromReaction:
		id, err := b.jobOfMessage(ctx, in)
		if errors.Is(err, jobs.ErrNotFound) {
			return commands.Reply{}, false // people react to all sorts of messages
		}
		if err != nil {
			b.log.Error("find the job of a reaction", "channel", in.channel, "ts", in.messageTS, "err", err)
			return commands.Reply{Text: jobs.UserMessage(err, 0), Ephemeral: true}, true
		}
		c := *in.command
		c.Job = id
		return svc.Do(ctx, req, &c), true
	case in.command != nil:
		c := *in.command
		return svc.Do(ctx, req, &c), true
	}
	res := commands.Parse(in.text)
	switch {
	case res.Ignore:
		return commands.Reply{Text: say.Words(commands.HelpText("")), Ephemeral: true}, true
	case res.Command == nil:
		return commands.Reply{Text: say.Words(res.Reply), Ephemeral: true}, true
	}
	if rep, refused := b.outsider(ctx, in, res.Command); refused {
		return rep, true
	}
	return svc.Do(ctx, req, res.Command), true
}

// outsider refuses a slash command that would start a job in a channel the
// bot is not in: its job message and thread could not be posted there.
func (b *Bot) outsider(ctx context.Context, in input, c *commands.Command) (commands.Reply, bool) {
	if b.cfg.Members == nil || in.kind != fromSlash || (c.Verb != commands.VerbBuild && c.Verb != commands.VerbDeploy) {
		return commands.Reply{}, false
	}
	ok, err := b.cfg.Members.In(ctx, in.channel)
	if err != nil {
		b.log.Warn("check the bot is in the channel; going on", "channel", in.channel, "err", err)
	}
	if ok {
		return commands.Reply{}, false
	}
	return commands.Reply{Ephemeral: true, Text: "I'm not in this conversation, so nobody here could follow the job. " +
		"Invite me with `/invite @gantry`, or ask in a channel I'm in."}, true
}
