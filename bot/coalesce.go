package bot

import (
	"context"
	"time"
)

// editQueue holds the newest waiting edit of one message and the callers
// waiting for it. One goroutine, the driver, sends the edits of a key in
// order; it lives while edits come, and for spacing after the last one.
type editQueue struct {
	method, channel string
	spacing         time.Duration
	call            Call         // newest edit not yet sent; nil when none waits
	waiters         []chan error // callers whose edit call stands for
	last            time.Time    // when the driver last sent; driver only
}

// Edit sends call like Do, for a call that replaces what earlier calls with
// the same key sent (chat.update of one message). While an edit waits for its
// turn, a newer one takes its place: only the newest is sent, and every
// caller it replaced gets its result. Edits of one key go out in order, at
// least spacing apart. Edit returns when the edit (or a newer one) was sent,
// or when ctx ends; the edit is sent either way.
func (s *Scheduler) Edit(ctx context.Context, method, channel, key string, spacing time.Duration, call Call) error {
	done := make(chan error, 1)
	s.mu.Lock()
	q := s.edits[key]
	if q == nil {
		q = &editQueue{method: method, channel: channel}
		s.edits[key] = q
		go s.drive(key, q)
	}
	q.spacing = spacing
	q.call = call
	q.waiters = append(q.waiters, done)
	s.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Scheduler) drive(key string, q *editQueue) {
	for {
		s.mu.Lock()
		gap := q.spacing - time.Since(q.last)
		if q.call == nil && gap <= 0 {
			delete(s.edits, key)
			s.mu.Unlock()
			return
		}
		if gap > 0 {
			// Let newer edits replace the waiting one until it is due.
			s.mu.Unlock()
			if err := sleep(s.base, gap); err != nil {
				s.abandon(key, q, err)
				return
			}
			continue
		}
		call, waiters := q.call, q.waiters
		q.call, q.waiters = nil, nil
		spacing := q.spacing
		s.mu.Unlock()
		err := s.Do(s.base, q.method, q.channel, func(ctx context.Context, attempt int) error {
			// A retry keeps its distance from the try before, too.
			if wait := spacing - time.Since(q.last); wait > 0 {
				if err := sleep(ctx, wait); err != nil {
					return err
				}
			}
			q.last = time.Now()
			return call(ctx, attempt)
		})
		for _, w := range waiters {
			w <- err
		}
	}
}

// abandon fails what waits in q when the scheduler is closed.
func (s *Scheduler) abandon(key string, q *editQueue, err error) {
	s.mu.Lock()
	waiters := q.waiters
	q.call, q.waiters = nil, nil
	delete(s.edits, key)
	s.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
}
