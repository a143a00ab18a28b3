package web

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/scm"
)

// Inbox is where accepted webhooks wait to be acted on: the webhook
// handler writes each into a Redis stream, in the same script that
// records it as seen, and answers GitHub at once; Run takes them from the
// stream as one of a consumer group, acts on them with retries, and
// dead-letters what keeps failing. A webhook whose consumer dies half way
// stays pending in the group, and another consumer (or the same one
// started again) takes it over once it has been idle for ClaimIdle. The
// stream and its records live in the Redis layer (rdb.Inbox).
type Inbox struct {
	box *rdb.Inbox
	me  *rdb.InboxConsumer
	cfg InboxConfig
	log *slog.Logger
}

// InboxConfig configures an Inbox. Zero values are the defaults.
type InboxConfig struct {
	// Namespace is the hash tag of the inbox's keys, the same as the job
	// store's (jobs.StoreConfig.Namespace); "" is "gantry".
	Namespace string
	// Handle acts on one webhook. An error wrapping jobs.ErrPermanent is
	// not tried again; any other is, with backoff.
	Handle   func(context.Context, *scm.WebhookEvent) error
	Group    string // the consumer group; "" is "webhooks"
	Consumer string // this process in the group; "" is host/pid
	// MaxAttempts is how many times a webhook is tried before it is
	// dead-lettered; 0 is 8.
	MaxAttempts int
	// RetryBase is the first wait between attempts, doubling up to a
	// minute; 0 is 1 s.
	RetryBase time.Duration
	// ClaimIdle is how long a webhook a consumer took may go untouched
	// before another consumer takes it over (its consumer died): a
	// consumer touches the webhooks it works on well within it. 0 is 1
	// minute.
	ClaimIdle time.Duration
	// MaxTakeovers is how many times a webhook may be taken over from a
	// consumer that died before it is dead-lettered, so that one that
	// kills whoever handles it cannot do so forever; 0 is 5.
	MaxTakeovers int
	// Timeout bounds one attempt; 0 is a minute.
	Timeout time.Duration
	// Grace is how long an attempt under way may go on once Run's context
	// ends; 0 is 5 s.
	Grace  time.Duration
	Logger *slog.Logger // nil: slog.Default()
}

// NewInbox returns the inbox in the Redis of r.
func NewInbox(r *rdb.Client, cfg InboxConfig) *Inbox {
	if cfg.Group == "" {
		cfg.Group = "webhooks"
	}
	if cfg.Consumer == "" {
		host, _ := os.Hostname()
		cfg.Consumer = host + "/" + strconv.Itoa(os.Getpid())
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RetryBase, time.Second)
	def(&cfg.ClaimIdle, time.Minute)
	def(&cfg.Timeout, webhookTimeout)
	def(&cfg.Grace, 5*time.Second)
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 8
	}
	if cfg.MaxTakeovers <= 0 {
		cfg.MaxTakeovers = 5
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	box := rdb.NewInbox(r, cfg.Namespace)
	return &Inbox{box: box, me: box.Consumer(cfg.Group, cfg.Consumer), cfg: cfg, log: cfg.Logger}
}

// accept queues ev, the webhook of delivery whose body has the SHA-256
// bodySum, unless either was seen in the last 72 hours (webhookDedupe). It
// returns "" when queued, else what makes it a duplicate, for the log.
func (in *Inbox) accept(ctx context.Context, ev *scm.WebhookEvent, delivery string, bodySum []byte) (string, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode GitHub delivery %s: %w", delivery, err)
	}
	verdict, first, err := in.box.Accept(ctx, delivery, bodySum, b, webhookDedupe)
	if err != nil {
		return "", fmt.Errorf("queue GitHub delivery %s: %w", delivery, err)
	}
	switch verdict {
	case rdb.InboxQueued:
		return "", nil
	case rdb.InboxRedelivery:
		return "redelivery", nil
	default:
		return fmt.Sprintf("the same body came before as delivery %v; replay", first), nil
	}
}

// Backlog is how many accepted webhooks are not yet acted on, across all
// processes.
func (in *Inbox) Backlog(ctx context.Context) (int64, error) {
	n, err := in.box.Len(ctx)
	if err != nil {
		return 0, fmt.Errorf("read GitHub webhook backlog: %w", err)
	}
	return n, nil
}

// DeadWebhook is a webhook the inbox gave up on.
type DeadWebhook struct {
	Delivery string
	Event    string // the parsed event, as JSON
	Error    string
	Attempts int
}

// DeadLetters returns up to n of the webhooks given up on, newest first.
func (in *Inbox) DeadLetters(ctx context.Context, n int64) ([]DeadWebhook, error) {
	ds, err := in.box.DeadLetters(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("read dead GitHub webhooks: %w", err)
	}
	out := make([]DeadWebhook, len(ds))
	for i, d := range ds {
		out[i] = DeadWebhook(d)
	}
	return out, nil
}

// ensureGroup makes the consumer group, from the stream's start so that
// webhooks accepted before any consumer ran are acted on.
func (in *Inbox) ensureGroup(ctx context.Context) error {
	if err := in.me.Join(ctx); err != nil {
		return fmt.Errorf("create webhook consumer group %s: %w", in.cfg.Group, err)
	}
	return nil
}

// Run acts on accepted webhooks until ctx ends.
func (in *Inbox) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		if err := in.ensureGroup(ctx); err != nil {
			in.log.Error("GitHub webhooks: cannot join the inbox", "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		if err := in.poll(ctx); err != nil && ctx.Err() == nil {
			in.log.Error("GitHub webhooks: cannot read the inbox", "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
	return nil
}

// poll takes one webhook, a pending one another consumer left first, and
// acts on it.
func (in *Inbox) poll(ctx context.Context) error {
	es, err := in.me.TakeOver(ctx, in.cfg.ClaimIdle)
	if err != nil {
		return fmt.Errorf("take over webhooks: %w", err)
	}
	if len(es) == 0 {
		if es, err = in.me.Read(ctx, min(2*time.Second, in.cfg.ClaimIdle)); err != nil {
			return fmt.Errorf("read webhooks: %w", err)
		}
	}
	for _, e := range es {
		in.process(ctx, e)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
