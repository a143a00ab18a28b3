package bot

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// liveTail is how many of the newest lines the live log keeps to show.
const liveTail = 200

// liveLog shows a running job's newest lines in one message of its thread.
// Write only keeps the lines; a goroutine posts the message when the first
// lines come and then edits it, never more often than once every
// SlackSurface.liveLog, however much the job prints. The whole log is kept
// in Redis by the worker; this is only the view.
type liveLog struct {
	s                 *SlackSurface
	job               int64
	channel, threadTS string
	lease             string // the lease name, when the surface has leases

	mu     sync.Mutex
	tail   []string // newest lines, oldest first, at most liveTail
	total  int64
	dirty  bool
	closed bool

	wake chan struct{}
	stop chan struct{}
	done chan struct{}

	// Owned by the loop until done, then by Close.
	ts       string // the live-log message, once posted
	lastCall time.Time
	broken   bool // posting failed for good: show nothing more
}

func newLiveLog(s *SlackSurface, j *jobs.Job, lease string) *liveLog {
	l := &liveLog{
		s: s, job: j.ID, channel: j.Channel, threadTS: j.ThreadTS, lease: lease,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go l.loop()
	return l
}

// Write keeps the chunk's lines; it never waits for Slack.
func (l *liveLog) Write(ctx context.Context, chunk []byte) error {
	chunk = bytes.TrimSuffix(chunk, []byte("\n"))
	if len(chunk) == 0 {
		return nil
	}
	lines := bytes.Split(chunk, []byte("\n"))
	if len(lines) > liveTail {
		lines = lines[len(lines)-liveTail:]
	}
	l.mu.Lock()
	l.total += int64(bytes.Count(chunk, []byte("\n")) + 1)
	for _, ln := range lines {
		l.tail = append(l.tail, clip(string(ln), maxLogLine))
	}
	if over := len(l.tail) - liveTail; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	l.dirty = true
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

func (l *liveLog) loop() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-l.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	if l.s.leases != nil {
		// Renewed on its own, so a flush held back by a long Retry-After
		// cannot let the lease lapse and another process start a second
		// live log.
		go func() {
			t := time.NewTicker(l.s.leases.TTL() / 3)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if ok, err := l.s.leases.Renew(ctx, l.lease); err == nil && !ok {
					// Another process took the live log over; leave it to it.
					l.s.logger.Warn("live log taken over by another process", "job", l.job)
					l.mu.Lock()
					l.broken = true
					l.mu.Unlock()
					cancel()
					return
				}
			}
		}()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
			if err := sleep(ctx, l.s.liveLog-time.Since(l.lastCall)); err != nil {
				return
			}
			l.flush(ctx, false)
		}
	}
}

// flush shows the newest lines: posts the message, or edits it.
func (l *liveLog) flush(ctx context.Context, ended bool) {
	l.mu.Lock()
	if l.broken || (!l.dirty && !ended) || (ended && l.ts == "" && l.total == 0) {
		l.mu.Unlock()
		return
	}
	v := liveLogView{Job: l.job, Lines: append([]string(nil), l.tail...), Total: l.total, Ended: ended}
	l.dirty = false
	l.mu.Unlock()

	l.lastCall = time.Now()
	var err error
	if l.ts == "" {
		l.ts, err = l.s.post(ctx, l.channel, l.threadTS, v.text(), v.blocks(), map[string]any{"job": l.job, "live_log": true})
		if err != nil && ctx.Err() == nil {
			l.mu.Lock()
			l.broken = true
			l.mu.Unlock()
		}
	} else {
		err = l.s.edit(ctx, l.channel, l.ts, v.text(), v.blocks(), l.s.liveLog, nil)
	}
	if err != nil {
		l.mu.Lock()
		l.dirty = true // show these lines with the next flush
		l.mu.Unlock()
		if ctx.Err() == nil {
			l.s.logger.Error("show live log", "job", l.job, "err", err)
		}
	}
}

// Close shows the last lines, marks the log as ended, and gives the live
// log's lease up.
func (l *liveLog) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	if l.ts != "" || l.total > 0 {
		if err := sleep(ctx, l.s.liveLog-time.Since(l.lastCall)); err != nil {
			return err
		}
		l.flush(ctx, true)
	}
	if l.s.leases != nil {
		return l.s.leases.Release(ctx, l.lease)
	}
	return nil
}
