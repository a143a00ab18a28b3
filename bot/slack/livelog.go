package slack

import (
	"bytes"
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/jobs"
)

// liveTail is how many of the newest lines the live log keeps to show.
const liveTail = 200

// resumeWindow is how much of the log before the point where a live log
// stopped is read again when it resumes, so that its first edit still
// shows the lines before the new ones.
const resumeWindow = 32 << 10

// stopGrace is how long a live log stopped with its process lets a call
// under way finish.
const stopGrace = 2 * time.Second

// liveLog shows a running job's newest lines in one message of its thread.
// Write only keeps the lines; a goroutine posts the message when the first
// lines come and then edits it, never more often than once every
// Surface.liveLog, however much the job prints. Each post and edit
// renders the lines as they are when Slack's limits let it go, and records
// in Redis how far into the job's log the message reaches, so that a live
// log taken up again (after a restart, by another process) edits the same
// message from there. The whole log is kept in Redis by the worker; this
// is only the view.
type liveLog struct {
	s                 *Surface
	job               int64
	channel, threadTS string
	lease             string // the lease name, when the surface has leases
	from              int64  // where in the log following starts
	w                 *waiter

	mu       sync.Mutex
	ts       string   // the live-log message, once posted
	tail     []string // newest lines, oldest first, at most liveTail
	steps    stepMarks
	total    int64 // lines of the log up to read
	read     int64 // how far into the log Write has got
	counted  int64 // lines before this offset are counted in total already
	dirty    bool
	ending   bool // the job has ended: show its end, then stop
	shownEnd bool // the message shows the end
	broken   bool // showing failed for good, or another process took over
	closed   bool

	wake chan struct{}
	stop chan struct{} // closed to stop without showing the end
	done chan struct{}

	lastCall time.Time // owned by the loop
}

func newLiveLog(s *Surface, j *jobs.Job, lease string, st jobs.LiveLogState) *liveLog {
	l := &liveLog{
		s: s, job: j.ID, channel: j.Channel, threadTS: j.ThreadTS, lease: lease, w: &waiter{prio: Background},
		ts: st.TS, total: st.Lines, counted: st.Shown, read: max(0, st.Shown-resumeWindow),
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.from = l.read
	go l.loop()
	return l
}

// From is where in the job's log the live log goes on from: a little
// before the point it had shown, when it resumes.
func (l *liveLog) From() int64 { return l.from }

// Write keeps the chunk's lines; it never waits for Slack.
func (l *liveLog) Write(ctx context.Context, chunk []byte) error {
	l.mu.Lock()
	start := l.read
	l.read += int64(len(chunk))
	body := bytes.TrimSuffix(chunk, []byte("\n"))
	if len(body) == 0 {
		l.mu.Unlock()
		return nil
	}
	off := start
	for i, ln := range bytes.Split(body, []byte("\n")) {
		end := off + int64(len(ln)) + 1
		partial := i == 0 && start == l.from && start > 0 // a resume window starts mid-line
		off = end
		if partial {
			continue
		}
		if end > l.counted {
			l.total++
		}
		l.steps.see(ln)
		l.tail = append(l.tail, clip(string(ln), maxLogLine))
	}
	if over := len(l.tail) - liveTail; over > 0 {
		l.tail = append(l.tail[:0], l.tail[over:]...)
	}
	l.dirty = true
	l.mu.Unlock()
	l.poke()
	return nil
}

func (l *liveLog) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *liveLog) logger() *slog.Logger { return l.s.logger.With("job", l.job) }

func (l *liveLog) loop() {
	defer close(l.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopping := make(chan struct{})
	go func() {
		select {
		case <-l.stop:
			// A call under way may finish and record what it showed, for
			// the process that goes on from there.
			close(stopping)
			t := time.NewTimer(stopGrace)
			defer t.Stop()
			select {
			case <-t.C:
				cancel()
			case <-ctx.Done():
			}
		case <-ctx.Done():
		}
	}()
	if l.s.leases != nil {
		go l.renew(ctx, cancel)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-stopping:
			return
		case <-l.wake:
		}
		select {
		case <-stopping:
			return
		case <-ctx.Done():
			return
		case <-time.After(l.s.liveLog - time.Since(l.lastCall)):
		}
		err := l.flush(ctx)
		if l.finished() {
			return
		}
		if err != nil && ctx.Err() == nil {
			l.logger().Error("show live log; trying again", "err", err)
			l.lastCall = time.Now() // the next try keeps its distance
			l.poke()
		}
	}
}

// renew keeps the live log's lease, renewed on its own so that a flush
// held back by a long Retry-After cannot let it lapse and another process
// start a second live log.
func (l *liveLog) renew(ctx context.Context, cancel context.CancelFunc) {
	t := time.NewTicker(l.s.leases.TTL() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if ok, err := l.s.leases.Renew(ctx, l.lease); err == nil && !ok {
			l.logger().Warn("live log taken over by another process")
			l.mu.Lock()
			l.broken = true
			l.mu.Unlock()
			cancel()
			return
		}
	}
}

// finished reports whether the loop has nothing more to do.
func (l *liveLog) finished() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.broken || (l.ending && (l.shownEnd || (l.ts == "" && l.total == 0)))
}

// viewLocked is what the message shows now.
func (l *liveLog) viewLocked() liveLogView {
	return liveLogView{Job: l.job, Lines: append([]string(nil), l.tail...), Total: l.total, Ended: l.ending, Steps: l.steps.list()}
}

// flush shows the newest lines: posts the message, or edits it.
func (l *liveLog) flush(ctx context.Context) error {
	l.mu.Lock()
	if l.broken || (!l.dirty && !(l.ending && !l.shownEnd)) || (l.ts == "" && l.total == 0) {
		l.mu.Unlock()
		return nil
	}
	ts, now := l.ts, l.viewLocked()
	l.mu.Unlock()

	var sent liveLogView
	var reached int64
	render := func(context.Context) (string, []goslack.Block) {
		l.mu.Lock()
		sent, reached = l.viewLocked(), l.read
		l.dirty = false
		l.mu.Unlock()
		return sent.text(), sent.blocks()
	}
	var err error
	if ts == "" {
		ts, err = l.s.post(ctx, l.w, l.channel, l.threadTS, render, map[string]any{"job": l.job, "live_log": true})
		if err == nil {
			l.mu.Lock()
			l.ts = ts
			l.mu.Unlock()
		} else if ctx.Err() == nil {
			l.mu.Lock()
			l.broken = true // a post that cannot be made is not retried forever
			l.mu.Unlock()
		}
	} else {
		p := Background
		if now.Ended {
			p = Normal // the last lines; a running job's edits wait behind it
		}
		err = l.s.edit(ctx, p, true, l.channel, ts, now.text(), now.blocks(), l.s.liveLog, render)
	}
	l.lastCall = time.Now()
	if err != nil {
		l.mu.Lock()
		l.dirty = true // show these lines with the next flush
		l.mu.Unlock()
		return err
	}
	if sent.Job == 0 {
		sent, reached = now, l.readNow() // the edit changed nothing: it shows now's lines
	}
	l.mu.Lock()
	l.shownEnd = l.shownEnd || sent.Ended
	l.mu.Unlock()
	l.save(ctx, jobs.LiveLogState{TS: ts, Shown: reached, Lines: sent.Total, Ended: sent.Ended})
	return nil
}

func (l *liveLog) readNow() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.read
}

// save records how far the message reaches, for a live log that resumes.
func (l *liveLog) save(ctx context.Context, st jobs.LiveLogState) {
	if l.s.leases == nil {
		return
	}
	if err := l.s.leases.SaveLiveLog(context.WithoutCancel(ctx), l.job, st); err != nil {
		l.logger().Warn("record where the live log stands", "err", err)
	}
}

// Close stops the live log. With ended (the job has ended and its log was
// read out) it first shows the last lines and marks the log as ended;
// without (the process is stopping) it stops at once, and the next process
// to show the job goes on from what the message shows. Either way it gives
// the live log's lease up.
func (l *liveLog) Close(ctx context.Context, ended bool) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	if ended {
		l.ending = true
	}
	l.mu.Unlock()
	if ended {
		l.s.sched.raise(l.w, Normal)
		l.poke()
		select {
		case <-l.done:
		case <-ctx.Done():
		}
	}
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
	if l.s.leases != nil {
		return l.s.leases.Release(context.WithoutCancel(ctx), l.lease)
	}
	return ctx.Err()
}

// LiveLog returns the sink that shows job j's newest lines in one message
// of its thread, edited at most once every LiveLogEvery. With leases, one
// process shows a job's live log (bot.ErrLiveLogElsewhere for the others),
// and one that shows it after another goes on in the same message, from
// where it stopped (bot.ErrLiveLogEnded when it shows the job's end
// already).
func (s *Surface) LiveLog(ctx context.Context, j *jobs.Job) (bot.LogSink, error) {
	name := "livelog:" + strconv.FormatInt(j.ID, 10)
	var st jobs.LiveLogState
	if s.leases != nil {
		ok, err := s.leases.Acquire(ctx, name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, bot.ErrLiveLogElsewhere
		}
		if st, err = s.leases.LiveLog(ctx, j.ID); err == nil && st.Ended {
			err = bot.ErrLiveLogEnded
		}
		if err != nil {
			_ = s.leases.Release(context.WithoutCancel(ctx), name)
			return nil, err
		}
	}
	return newLiveLog(s, j, name, st), nil
}
