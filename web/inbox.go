package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

// Inbox is where accepted webhooks wait to be acted on: the webhook
// handler writes each into a Redis stream, in the same script that
// records it as seen, and answers GitHub at once; Run takes them from the
// stream as one of a consumer group, acts on them with retries, and
// dead-letters what keeps failing. A webhook whose consumer dies half way
// stays pending in the group, and another consumer (or the same one
// started again) takes it over once it has been idle for ClaimIdle.
//
//	{gantry}:github:webhooks        stream  accepted webhooks not yet acted on (consumer group "webhooks")
//	{gantry}:github:webhooks:dead   stream  webhooks given up on, with why (capped at about 1000)
type Inbox struct {
	rdb    redis.UniversalClient
	keys   rdb.Keys
	stream string
	dead   string
	cfg    InboxConfig
	log    *slog.Logger
}

// InboxConfig configures an Inbox. Zero values are the defaults.
type InboxConfig struct {
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

// NewInbox returns the inbox beside store.
func NewInbox(store *jobs.Store, cfg InboxConfig) *Inbox {
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
	k := store.Keys()
	return &Inbox{
		rdb: store.Redis(), keys: k, stream: k.Prefix() + "github:webhooks", dead: k.Prefix() + "github:webhooks:dead",
		cfg: cfg, log: cfg.Logger,
	}
}

// acceptScript records a webhook as seen (its delivery id and its body's
// hash, for 72 hours) and adds it to the stream, or does neither when
// either was seen: so a webhook is never seen but not queued, nor queued
// twice. It answers 1 for a delivery seen before, 2 and the delivery that
// carried the body for a body seen before, 0 and the entry id when queued.
var acceptScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, ''} end
local prev = redis.call('GET', KEYS[2])
if prev then return {2, prev} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
local id = redis.call('XADD', KEYS[3], '*', 'delivery', ARGV[2], 'event', ARGV[3], 'seen', KEYS[1], 'body_seen', KEYS[2])
return {0, id}
`)

// accept queues ev unless it was seen. It returns "" when queued, else
// what makes it a duplicate, for the log.
func (in *Inbox) accept(ctx context.Context, ev *scm.WebhookEvent, seen seenKeys) (string, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("encode GitHub delivery %s: %w", seen.id, err)
	}
	res, err := acceptScript.Run(ctx, in.rdb, []string{seen.delivery, seen.body, in.stream},
		webhookDedupe.Milliseconds(), seen.id, b).Slice()
	if err != nil {
		return "", fmt.Errorf("queue GitHub delivery %s: %w", seen.id, err)
	}
	switch code, _ := res[0].(int64); code {
	case 0:
		return "", nil
	case 1:
		return "redelivery", nil
	default:
		return fmt.Sprintf("the same body came before as delivery %v; replay", res[1]), nil
	}
}

// Backlog is how many accepted webhooks are not yet acted on, across all
// processes.
func (in *Inbox) Backlog(ctx context.Context) (int64, error) {
	n, err := in.rdb.XLen(ctx, in.stream).Result()
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
	msgs, err := in.rdb.XRevRangeN(ctx, in.dead, "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("read dead GitHub webhooks: %w", err)
	}
	out := make([]DeadWebhook, 0, len(msgs))
	for _, m := range msgs {
		d := DeadWebhook{}
		d.Delivery, _ = m.Values["delivery"].(string)
		d.Event, _ = m.Values["event"].(string)
		d.Error, _ = m.Values["error"].(string)
		a, _ := m.Values["attempts"].(string)
		d.Attempts, _ = strconv.Atoi(a)
		out = append(out, d)
	}
	return out, nil
}

// ensureGroup makes the consumer group, from the stream's start so that
// webhooks accepted before any consumer ran are acted on.
func (in *Inbox) ensureGroup(ctx context.Context) error {
	err := in.rdb.XGroupCreateMkStream(ctx, in.stream, in.cfg.Group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
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
	msgs, _, err := in.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: in.stream, Group: in.cfg.Group, Consumer: in.cfg.Consumer,
		MinIdle: in.cfg.ClaimIdle, Start: "0-0", Count: 1,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("take over webhooks: %w", err)
	}
	if len(msgs) == 0 {
		res, err := in.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: in.cfg.Group, Consumer: in.cfg.Consumer, Streams: []string{in.stream, ">"},
			Count: 1, Block: min(2*time.Second, in.cfg.ClaimIdle),
		}).Result()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read webhooks: %w", err)
		}
		for _, st := range res {
			msgs = append(msgs, st.Messages...)
		}
	}
	for _, m := range msgs {
		in.process(ctx, m)
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
