package slack

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
	prio            Priority     // the highest priority of the edits call stands for
	waiters         []chan error // callers whose edit call stands for
	w               *waiter      // the driver's place in the scheduler's queue
	last            time.Time    // when the driver last sent; under the scheduler's mu
}

// Edit sends call like DoPriority, for a call that replaces what earlier
// calls with the same key sent (chat.update of one message), and waits for
// it: see QueueEdit. It returns when the edit (or a newer one) was sent, or
// when ctx ends; the edit is sent either way.
func (s *Scheduler) Edit(ctx context.Context, p Priority, method, channel, key string, spacing time.Duration, call Call) error {
	done := s.QueueEdit(p, method, channel, key, spacing, call)
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// QueueEdit queues call, an edit of the message key, and returns at once;
// the channel gets the result of the call that was sent for it. While an
// edit waits for its turn, a newer one takes its place: only the newest is
// sent (it is taken when the limits let it go, so a call that renders the
// message then shows the newest state), with the highest priority of those
// it replaced. Edits of one key go out in order, at least spacing apart.
func (s *Scheduler) QueueEdit(p Priority, method, channel, key string, spacing time.Duration, call Call) <-chan error {
	done := make(chan error, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.edits[key]
	if q == nil {
		q = &editQueue{method: method, channel: channel, w: &waiter{}}
		s.edits[key] = q
		go s.drive(key, q)
	}
	if q.call == nil || p > q.prio {
		q.prio = p
	}
	q.spacing = spacing
	q.call = call
	q.waiters = append(q.waiters, done)
	s.raiseLocked(q.w, q.prio)
	return done
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
		if q.call == nil {
			// Stay for the spacing: an edit that comes now keeps its distance.
			s.mu.Unlock()
			if err := sleep(s.base, gap); err != nil {
				s.abandon(key, q, err)
				return
			}
			continue
		}
		q.w = &waiter{prio: q.prio}
		w := q.w
		s.mu.Unlock()
		var waiters []chan error
		var call Call
		gapLeft := func() time.Duration {
			s.mu.Lock()
			defer s.mu.Unlock()
			return q.spacing - time.Since(q.last)
		}
		err := s.do(s.base, w, q.method, q.channel, gapLeft,
			func(ctx context.Context, attempt int) error {
				// The newest edit goes; a retry without a newer one sends the same.
				s.mu.Lock()
				if q.call != nil {
					call = q.call
					waiters = append(waiters, q.waiters...)
					q.call, q.waiters = nil, nil
				}
				q.last = time.Now()
				s.mu.Unlock()
				return call(ctx, attempt)
			})
		for _, d := range waiters {
			d <- err
		}
		if err != nil && s.base.Err() != nil {
			s.abandon(key, q, err)
			return
		}
	}
}

// abandon fails what waits in q when the scheduler is closed.
func (s *Scheduler) abandon(key string, q *editQueue, err error) {
	s.mu.Lock()
	waiters := q.waiters
	q.call, q.waiters = nil, nil
	if s.edits[key] == q {
		delete(s.edits, key)
	}
	s.mu.Unlock()
	for _, w := range waiters {
		w <- err
	}
}
