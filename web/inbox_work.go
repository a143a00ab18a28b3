package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

// maxRetryWait caps the wait between two attempts at a webhook.
const maxRetryWait = time.Minute

// process acts on one webhook taken from the stream: acknowledged and
// removed once acted on, dead-lettered when it keeps failing, handed back
// to the group when Run stops first.
func (in *Inbox) process(ctx context.Context, m redis.XMessage) {
	delivery, _ := m.Values["delivery"].(string)
	log := in.log.With("delivery", delivery, "entry", m.ID)
	stop := in.keepTaken(ctx, m.ID)
	defer stop()
	if n, err := in.timesTaken(ctx, m.ID); err == nil && n > int64(in.cfg.MaxTakeovers)+1 {
		in.deadLetter(ctx, m, log, fmt.Errorf("taken over %d times from consumers that stopped before they finished it", n-1), 0)
		return
	}
	ev := &scm.WebhookEvent{}
	if raw, _ := m.Values["event"].(string); json.Unmarshal([]byte(raw), ev) != nil {
		in.deadLetter(ctx, m, log, errors.New("the queued event cannot be decoded"), 0)
		return
	}
	log = log.With("event", ev.Kind, "repo", ev.Repo)
	for attempt := 1; ; attempt++ {
		err := in.attempt(ctx, ev)
		switch {
		case err == nil:
			in.done(ctx, m.ID, log)
			return
		case ctx.Err() != nil:
			in.handBack(ctx, m.ID, log, err)
			return
		case errors.Is(err, jobs.ErrPermanent) || attempt >= in.cfg.MaxAttempts:
			in.deadLetter(ctx, m, log, err, attempt)
			return
		}
		wait := min(in.cfg.RetryBase<<min(attempt-1, 20), maxRetryWait)
		log.Warn("GitHub webhook failed; will try again", "attempt", attempt, "in", wait, "err", err)
		sleepCtx(ctx, wait)
		if ctx.Err() != nil {
			in.handBack(ctx, m.ID, log, err)
			return
		}
	}
}

// attempt hands ev to Handle once. An attempt under way when ctx ends may
// finish within Grace, so that a stop rarely leaves a webhook half done.
func (in *Inbox) attempt(ctx context.Context, ev *scm.WebhookEvent) error {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.cfg.Timeout)
	defer cancel()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(in.cfg.Grace, cancel) })
	defer stopGrace()
	return in.cfg.Handle(actx, ev)
}

// keepTaken touches entry id while it is worked on, so that no other
// consumer takes it over for being idle; the returned func stops it.
func (in *Inbox) keepTaken(ctx context.Context, id string) func() {
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(in.cfg.ClaimIdle / 3)
		defer t.Stop()
		for {
			select {
			case <-tctx.Done():
				return
			case <-t.C:
				err := in.rdb.XClaimJustID(tctx, &redis.XClaimArgs{
					Stream: in.stream, Group: in.cfg.Group, Consumer: in.cfg.Consumer, Messages: []string{id},
				}).Err()
				if err != nil && tctx.Err() == nil {
					in.log.Warn("GitHub webhook: cannot keep it taken; another consumer may take it over", "entry", id, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// timesTaken is how many times entry id has been handed to a consumer.
func (in *Inbox) timesTaken(ctx context.Context, id string) (int64, error) {
	p, err := in.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: in.stream, Group: in.cfg.Group, Start: id, End: id, Count: 1,
	}).Result()
	if err != nil || len(p) == 0 {
		return 0, err
	}
	return p[0].RetryCount, nil
}

// done acknowledges and removes a webhook acted on.
func (in *Inbox) done(ctx context.Context, id string, log *slog.Logger) {
	_, err := in.rdb.TxPipelined(context.WithoutCancel(ctx), func(p redis.Pipeliner) error {
		p.XAck(context.WithoutCancel(ctx), in.stream, in.cfg.Group, id)
		p.XDel(context.WithoutCancel(ctx), in.stream, id)
		return nil
	})
	if err != nil {
		// Left pending: it is taken over and acted on again, which the
		// handler's own checks make harmless.
		log.Error("GitHub webhook acted on, but cannot be acknowledged", "err", err)
	}
}

// handBack leaves a webhook for whoever comes next: pending, and idle
// long enough to be taken over at once.
func (in *Inbox) handBack(ctx context.Context, id string, log *slog.Logger, why error) {
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	err := in.rdb.Do(hctx, "XCLAIM", in.stream, in.cfg.Group, in.cfg.Consumer, 0, id,
		"IDLE", in.cfg.ClaimIdle.Milliseconds(), "JUSTID").Err()
	if err != nil {
		log.Warn("GitHub webhook left for another consumer after its idle time", "why", why, "err", err)
		return
	}
	log.Info("GitHub webhook left in the inbox: gantry is stopping", "why", why)
}

// deadLetter gives a webhook up: it goes to the dead letters with why, and
// its delivery is forgotten, so that redelivering it from GitHub's
// settings, once the cause is mended, is acted on.
func (in *Inbox) deadLetter(ctx context.Context, m redis.XMessage, log *slog.Logger, why error, attempts int) {
	dctx := context.WithoutCancel(ctx)
	delivery, _ := m.Values["delivery"].(string)
	event, _ := m.Values["event"].(string)
	var forget []string
	for _, f := range []string{"seen", "body_seen"} {
		if k, _ := m.Values[f].(string); k != "" {
			forget = append(forget, k)
		}
	}
	_, err := in.rdb.TxPipelined(dctx, func(p redis.Pipeliner) error {
		p.XAdd(dctx, &redis.XAddArgs{Stream: in.dead, MaxLen: 1000, Approx: true, Values: []any{
			"delivery", delivery, "event", event, "error", why.Error(), "attempts", strconv.Itoa(attempts),
			"at", time.Now().UTC().Format(time.RFC3339),
		}})
		p.XAck(dctx, in.stream, in.cfg.Group, m.ID)
		p.XDel(dctx, in.stream, m.ID)
		if len(forget) > 0 {
			p.Del(dctx, forget...)
		}
		return nil
	})
	if err != nil {
		log.Error("GitHub webhook given up, but cannot be dead-lettered; it will be tried again", "why", why, "err", err)
		return
	}
	log.Error("GitHub webhook given up and dead-lettered; redeliver it from GitHub once the cause is mended",
		"attempts", attempts, "err", why)
}
