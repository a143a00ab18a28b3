package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
)

// Surface is where a front end shows messages: a Slack workspace, a terminal.
type Surface interface {
	// Post sends m to channel (in the thread of threadTS when set) and
	// returns the new message's ts.
	Post(ctx context.Context, channel, threadTS string, m Message) (string, error)
	// Update replaces the message at ts.
	Update(ctx context.Context, channel, ts string, m Message) error
	// Upload attaches a file in the thread.
	Upload(ctx context.Context, channel, threadTS string, f commands.File, comment string) error
	// LiveLog returns where job j's output goes while it runs.
	LiveLog(ctx context.Context, j *jobs.Job) (LogSink, error)
}

// LogSink takes a running job's output, in whole lines.
type LogSink interface {
	Write(ctx context.Context, chunk []byte) error
	// Close is called once the job has ended and its log has been read out.
	Close(ctx context.Context) error
}

// Threads turns job events into the messages of each job's thread: the job
// message (posted once, then edited on every change), a reply per step and
// note, the live log, and at the end a summary and the whole log. Both the
// Slack bot and the console use it, so a job looks the same in each.
type Threads struct {
	store   *jobs.Store
	log     *jobs.Log
	surface Surface
	links   func(id int64) string
	logger  *slog.Logger
	poll    time.Duration
	upload  bool
	claim   func(ctx context.Context, key string, ttl time.Duration) (bool, error)
	unclaim func(ctx context.Context, key string) error

	mu        sync.Mutex
	followers map[int64]*follower
	shown     string // the last event Consume has shown
}

// ThreadsConfig configures Threads. Zero values are the defaults.
type ThreadsConfig struct {
	Links      func(id int64) string // signed job page links; nil: none
	Logger     *slog.Logger
	PollLog    time.Duration // how often a running job's log is read; 0 is 250ms
	UploadLogs bool          // attach the whole log when a job ends
	// Claim, when set, lets one of several processes that share the events
	// post each job's message: it reports whether key was claimed first
	// (Store.FirstSeen). nil: this process is the only one.
	Claim func(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Unclaim gives a claim back (the post failed), so that a later event
	// tries again at once instead of waiting for the claim to lapse.
	Unclaim func(ctx context.Context, key string) error
}

type follower struct {
	stop atomic.Bool
	done chan struct{}
}

// NewThreads returns the thread renderer for surface.
func NewThreads(s *jobs.Store, l *jobs.Log, surface Surface, cfg ThreadsConfig) *Threads {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PollLog <= 0 {
		cfg.PollLog = 250 * time.Millisecond
	}
	return &Threads{
		store: s, log: l, surface: surface, links: cfg.Links, logger: cfg.Logger, poll: cfg.PollLog,
		upload: cfg.UploadLogs, claim: cfg.Claim, unclaim: cfg.Unclaim, followers: map[int64]*follower{},
	}
}

func (t *Threads) link(id int64) string {
	if t.links == nil {
		return ""
	}
	return t.links(id)
}

// Handle shows one event. Events of one job must come in order.
func (t *Threads) Handle(ctx context.Context, e jobs.Event) error {
	j, err := t.store.Get(ctx, e.Job)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.Channel == "" {
		return nil // nowhere to say it (a GitHub build of an unbound repo)
	}
	final := e.Type == jobs.EventState && e.State.Final() && j.State.Final()
	if final {
		t.drain(j.ID) // the last lines come before the verdict
	}
	posted := false
	if j.ThreadTS == "" {
		if posted, err = t.postJobMessage(ctx, j); err != nil {
			return err
		}
	}
	if !posted && (e.Type == jobs.EventState || e.Type == jobs.EventStep || e.Type == jobs.EventRetry) {
		if err := t.surface.Update(ctx, j.Channel, j.ThreadTS, JobMessage(j, t.store.Now(), t.link(j.ID))); err != nil {
			return fmt.Errorf("update message of job #%d: %w", j.ID, err)
		}
	}
	if j.State == jobs.Running {
		t.follow(ctx, j)
	}
	if e.Text != "" {
		if _, err := t.surface.Post(ctx, j.Channel, j.ThreadTS, Message{Text: e.Text, Step: e.Type == jobs.EventStep}); err != nil {
			return fmt.Errorf("post in thread of job #%d: %w", j.ID, err)
		}
	}
	if final {
		return t.finish(ctx, j)
	}
	return nil
}

// postJobMessage posts job j's message and records its thread, or, when
// another process claimed that, waits until it has. It reports whether the
// message it leaves in j.ThreadTS shows j's current state.
func (t *Threads) postJobMessage(ctx context.Context, j *jobs.Job) (bool, error) {
	// A claim outlives a post held back by rate limits; one whose holder
	// died lapses, and then this process posts.
	const claimFor = 2 * time.Minute
	for t.claim != nil {
		first, err := t.claim(ctx, fmt.Sprintf("thread:job:%d", j.ID), claimFor)
		if err != nil {
			return false, err
		}
		if first {
			break
		}
		if err := t.awaitThread(ctx, j, claimFor+5*time.Second); err == nil || ctx.Err() != nil {
			return false, err
		}
		t.logger.Warn("the process that claimed a job's message did not post it; posting it here", "job", j.ID)
	}
	ts, err := t.surface.Post(ctx, j.Channel, "", JobMessage(j, t.store.Now(), t.link(j.ID)))
	if err != nil {
		if t.claim != nil && t.unclaim != nil {
			_ = t.unclaim(context.WithoutCancel(ctx), fmt.Sprintf("thread:job:%d", j.ID))
		}
		return false, fmt.Errorf("post message of job #%d: %w", j.ID, err)
	}
	j.ThreadTS = ts
	return true, t.store.SetThread(ctx, j.ID, j.Channel, ts)
}

// awaitThread waits, up to within, for the process that claimed job j's
// message to record its thread.
func (t *Threads) awaitThread(ctx context.Context, j *jobs.Job, within time.Duration) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(within)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline:
			return fmt.Errorf("job #%d: the process that claimed its message has not posted it", j.ID)
		case <-tick.C:
		}
		cur, err := t.store.Get(ctx, j.ID)
		if err != nil {
			return err
		}
		if cur.ThreadTS != "" {
			j.ThreadTS = cur.ThreadTS
			return nil
		}
	}
}

// follow starts streaming job j's log into its thread, once.
func (t *Threads) follow(ctx context.Context, j *jobs.Job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.followers[j.ID]; ok {
		return
	}
	sink, err := t.surface.LiveLog(ctx, j)
	if errors.Is(err, ErrLiveLogElsewhere) {
		return
	}
	if err != nil {
		t.logger.Error("start live log", "job", j.ID, "err", err)
		return
	}
	f := &follower{done: make(chan struct{})}
	t.followers[j.ID] = f
	go func() {
		defer close(f.done)
		bg := context.WithoutCancel(ctx)
		_, err := t.log.Follow(bg, j.ID, 0, t.poll, t.stopFollowing(bg, j.ID, f), func(b []byte) error { return sink.Write(bg, b) })
		if err != nil {
			t.logger.Error("follow job log", "job", j.ID, "err", err)
		}
		if err := sink.Close(bg); err != nil {
			t.logger.Error("close live log", "job", j.ID, "err", err)
		}
		// Stopped without drain: the job's end was shown elsewhere.
		t.mu.Lock()
		if t.followers[j.ID] == f {
			delete(t.followers, j.ID)
		}
		t.mu.Unlock()
	}()
}

// stopFollowing tells Follow when to stop: when drain says so, or when the
// job has ended and another process showed its end (checked every 2s).
func (t *Threads) stopFollowing(ctx context.Context, id int64, f *follower) func() bool {
	var checked time.Time
	return func() bool {
		if f.stop.Load() {
			return true
		}
		if time.Since(checked) < 2*time.Second {
			return false
		}
		checked = time.Now()
		j, err := t.store.Get(ctx, id)
		return err == nil && j.State.Final()
	}
}

// drain ends job id's live log once it has shown everything written.
func (t *Threads) drain(id int64) {
	t.mu.Lock()
	f, ok := t.followers[id]
	delete(t.followers, id)
	t.mu.Unlock()
	if ok {
		f.stop.Store(true)
		<-f.done
	}
}

// finish posts the summary and the whole log.
func (t *Threads) finish(ctx context.Context, j *jobs.Job) error {
	summary := Summary(j, t.store.Now())
	if link := t.link(j.ID); link != "" {
		summary += "\nWhole log: " + link
	}
	if _, err := t.surface.Post(ctx, j.Channel, j.ThreadTS, Message{Text: summary}); err != nil {
		return fmt.Errorf("post summary of job #%d: %w", j.ID, err)
	}
	if !t.upload {
		return nil
	}
	all, err := t.log.All(ctx, j.ID)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return nil
	}
	f2 := commands.File{Name: fmt.Sprintf("gantry-job-%d.log", j.ID), Title: "Log of " + j.Name(), Content: all}
	if err := t.surface.Upload(ctx, j.Channel, j.ThreadTS, f2, ""); err != nil {
		return fmt.Errorf("upload log of job #%d: %w", j.ID, err)
	}
	return nil
}

// Close stops every live log.
func (t *Threads) Close() {
	t.mu.Lock()
	fs := make([]*follower, 0, len(t.followers))
	for _, f := range t.followers {
		f.stop.Store(true)
		fs = append(fs, f)
	}
	t.mu.Unlock()
	for _, f := range fs {
		<-f.done
	}
}

// Consume reads events from the stream after id from and shows them, until
// ctx ends. It is the console's loop: one process, every event.
func (t *Threads) Consume(ctx context.Context, from string) error {
	for ctx.Err() == nil {
		evs, err := t.store.ReadEvents(ctx, from, 100, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			t.logger.Error("read job events", "err", err)
			time.Sleep(time.Second)
			continue
		}
		for _, e := range evs {
			from = e.ID
			if err := t.Handle(ctx, e); err != nil {
				t.logger.Error("show job event", "job", e.Job, "err", err)
			}
			t.mu.Lock()
			t.shown = e.ID
			t.mu.Unlock()
		}
	}
	return nil
}

// WaitIdle returns once no job is active and every event announced so far
// has been shown: what a console fed from a pipe waits for before it quits.
func (t *Threads) WaitIdle(ctx context.Context) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		active, err := t.store.Active(ctx)
		if err != nil {
			return err
		}
		if len(active) == 0 {
			last, err := t.store.LastEventID(ctx)
			if err != nil {
				return err
			}
			t.mu.Lock()
			shown := t.shown
			t.mu.Unlock()
			if last == "0-0" || shown == last {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
