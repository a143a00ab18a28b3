package scm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// outbox is the Reporter's Redis outbox (rdb.Outbox, whose comment says how
// reports wait there), with errors that say what each call was for.
type outbox struct{ box *rdb.Outbox }

// errOutboxFull is returned when the outbox holds as many reports as it may.
var errOutboxFull = errors.New("the GitHub outbox is full")

// outcome is what became of a queue's first report.
type outcome = rdb.OutboxOutcome

const (
	sent  = rdb.OutboxSent  // delivered, or nothing to deliver: remove it
	retry = rdb.OutboxRetry // keep it first, updated, and try again at next
	dead  = rdb.OutboxDead  // given up: move it to the dead letters
)

// push appends item to queue; a queue that was empty is due at once.
func (o outbox) push(ctx context.Context, queue string, item []byte, now time.Time, limit int64) error {
	ok, err := o.box.Push(ctx, queue, item, now, limit)
	if err != nil {
		return fmt.Errorf("queue GitHub report %s: %w", queue, err)
	}
	if !ok {
		return fmt.Errorf("queue GitHub report %s: %w (%d reports wait for GitHub)", queue, errOutboxFull, limit)
	}
	return nil
}

// dueQueues lists up to n queues whose first report may be tried now.
func (o outbox) dueQueues(ctx context.Context, now time.Time, n int64) ([]string, error) {
	qs, err := o.box.Due(ctx, now, n)
	if err != nil {
		return nil, fmt.Errorf("read due GitHub reports: %w", err)
	}
	return qs, nil
}

// nextDue is when the next queue comes due; false when none waits.
func (o outbox) nextDue(ctx context.Context) (time.Time, bool, error) {
	return o.box.NextDue(ctx)
}

// claim takes queue's lease under token when its first report is due, and
// returns that report; false when the queue is not due or someone holds it.
// Should the holder die, the queue comes due again when the lease ends.
func (o outbox) claim(ctx context.Context, queue, token string, now time.Time, lease time.Duration) ([]byte, bool, error) {
	head, ok, err := o.box.Claim(ctx, queue, token, now, lease)
	if err != nil {
		return nil, false, fmt.Errorf("claim GitHub reports %s: %w", queue, err)
	}
	return head, ok, nil
}

// finish records what became of the first report of queue, whose lease
// token holds, and gives the lease back. item is the report as it is to be
// kept (retry) or dead-lettered (dead); why is the error given up on. It
// returns false when the lease had been lost (the holder was too slow, and
// another process may have delivered the report too).
func (o outbox) finish(ctx context.Context, queue, token string, out outcome, now, next time.Time, item []byte, why string) (bool, error) {
	ok, err := o.box.Finish(ctx, queue, token, out, now, next, item, why)
	if err != nil {
		return false, fmt.Errorf("record GitHub report %s %s: %w", queue, out, err)
	}
	return ok, nil
}

// release gives queue's lease back untouched, due at once for whoever
// comes next.
func (o outbox) release(ctx context.Context, queue, token string, now time.Time) error {
	if _, err := o.box.Release(ctx, queue, token, now); err != nil {
		return fmt.Errorf("give back GitHub reports %s: %w", queue, err)
	}
	return nil
}

// depth is how many reports wait in the outbox.
func (o outbox) depth(ctx context.Context) (int64, error) {
	n, err := o.box.Depth(ctx)
	if err != nil {
		return 0, fmt.Errorf("read GitHub outbox depth: %w", err)
	}
	return n, nil
}

// deadLetters returns up to n of the reports given up, newest first.
func (o outbox) deadLetters(ctx context.Context, n int64) ([]DeadReport, error) {
	ds, err := o.box.DeadLetters(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("read dead GitHub reports: %w", err)
	}
	out := make([]DeadReport, len(ds))
	for i, d := range ds {
		out[i] = DeadReport(d)
	}
	return out, nil
}

// DeadReport is a report the Reporter gave up on.
type DeadReport struct {
	ID     string // the dead-letter stream's entry id
	Queue  string // the commit or deployment it was for
	Report string // the report, as JSON
	Error  string // why it was given up
}
