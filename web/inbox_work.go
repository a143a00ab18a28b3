package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

// maxRetryWait caps the wait between two attempts at a webhook.
const maxRetryWait = time.Minute

// process acts on one webhook taken from the stream: acknowledged and
// removed once acted on, dead-lettered when it keeps failing, handed back
// to the group when Run stops first.
func (in *Inbox) process(ctx context.Context, m rdb.InboxEntry) {
	log := in.log.With("delivery", m.Delivery, "entry", m.ID)
	stop := in.keepTaken(ctx, m.ID)
	defer stop()
	if n, err := in.me.TimesTaken(ctx, m.ID); err == nil && n > int64(in.cfg.MaxTakeovers)+1 {
		in.deadLetter(ctx, m, log, fmt.Errorf("taken over %d times from consumers that stopped before they finished it", n-1), 0)
		return
	}
	ev := &scm.WebhookEvent{}
	if json.Unmarshal([]byte(m.Event), ev) != nil {
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
				err := in.me.Touch(tctx, id)
				if err != nil && tctx.Err() == nil {
					in.log.Warn("GitHub webhook: cannot keep it taken; another consumer may take it over", "entry", id, "err", err)
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}

// done acknowledges and removes a webhook acted on.
func (in *Inbox) done(ctx context.Context, id string, log *slog.Logger) {
	if err := in.me.Done(context.WithoutCancel(ctx), id); err != nil {
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
	if err := in.me.HandBack(hctx, id, in.cfg.ClaimIdle); err != nil {
		log.Warn("GitHub webhook left for another consumer after its idle time", "why", why, "err", err)
		return
	}
	log.Info("GitHub webhook left in the inbox: gantry is stopping", "why", why)
}

// deadLetter gives a webhook up: it goes to the dead letters with why, and
// its delivery is forgotten, so that redelivering it from GitHub's
// settings, once the cause is mended, is acted on.
func (in *Inbox) deadLetter(ctx context.Context, m rdb.InboxEntry, log *slog.Logger, why error, attempts int) {
	if err := in.me.DeadLetter(context.WithoutCancel(ctx), m, why.Error(), attempts, time.Now()); err != nil {
		log.Error("GitHub webhook given up, but cannot be dead-lettered; it will be tried again", "why", why, "err", err)
		return
	}
	log.Error("GitHub webhook given up and dead-lettered; redeliver it from GitHub once the cause is mended",
		"attempts", attempts, "err", why)
}
