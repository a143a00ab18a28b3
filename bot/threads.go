package bot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
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
	// LiveLog returns where job j's output goes while it runs. A surface
	// shared by several processes returns ErrLiveLogElsewhere when another
	// one shows it, and ErrLiveLogEnded when it shows the job's end already.
	LiveLog(ctx context.Context, j *jobs.Job) (LogSink, error)
}

// ErrLiveLogElsewhere is returned by LiveLog when another gantry process
// already shows the job's live log.
var ErrLiveLogElsewhere = errors.New("another process shows this live log")

// ErrLiveLogEnded is returned by LiveLog when the job's live log already
// shows the job's end.
var ErrLiveLogEnded = errors.New("the live log already shows the job's end")

// LogSink takes a running job's output, in whole lines.
type LogSink interface {
	Write(ctx context.Context, chunk []byte) error
	// Close ends the sink. ended says the job has ended and its log has
	// been read out: the sink shows its last lines. Without it the process
	// is stopping, and the next one to show the job goes on from here.
	Close(ctx context.Context, ended bool) error
}

// Threads turns job events into what each job's thread shows, within a
// budget that keeps a busy channel readable: the job message (posted once,
// then edited on every change: state, step k of n, durations, buttons), one
// live-log message in its thread (which shows the step boundaries and ends
// with the job's last lines), and one reply when the job ends that tells
// the person who asked (with, for a failure, the failing step, its last
// lines and a Retry button). Steps, waits and retries edit the job message
// and never post; notes are the only other replies. Both the Slack bot and
// the console use it, so a job looks the same in each.
type Threads struct {
	store    *jobs.Store
	log      *jobs.Log
	surface  Surface
	links    func(id int64) string
	artLinks func(id int64, path string) string
	logger   *slog.Logger
	poll     time.Duration
	upload   bool
	quiet    bool
	resume   time.Duration
	handOver time.Duration
	claim    func(ctx context.Context, key string, ttl time.Duration) (bool, error)
	unclaim  func(ctx context.Context, key string) error
	authors  *Authors

	mu        sync.Mutex
	followers map[int64]*follower
	ending    map[int64]bool // jobs whose live log is being ended here
	ended     map[int64]bool // jobs whose live log showed the end here (recent ones)
	shown     string         // the last event Consume has shown
}

// ThreadsConfig configures Threads. Zero values are the defaults.
type ThreadsConfig struct {
	Links func(id int64) string // signed job page links; nil: none
	// ArtifactLinks are signed links to a job's artifacts; nil: the
	// notice names them and points to the page.
	ArtifactLinks func(id int64, path string) string
	Logger        *slog.Logger
	PollLog       time.Duration // how often a running job's log is read; 0 is 250ms
	// UploadFailed attaches the whole log to a failed job's thread. Other
	// jobs' logs are attached only when someone asks (logs).
	UploadFailed bool
	// QuietUnasked leaves out the reply at the end of a job nobody asked
	// for (GitHub's) that succeeded: there is nobody to tell, and a busy
	// channel is spared a post. The console, which has no such budget,
	// shows every end.
	QuietUnasked bool
	// ResumeEvery is how often ConsumeGroup looks for running jobs whose
	// live log nobody shows (its process stopped or died) and takes them
	// up; 0 is 10s.
	ResumeEvery time.Duration
	// HandOver is how long the end of a job waits for another process
	// that shows its live log to finish it, before taking it over (a dead
	// process's lease must lapse first); 0 is 45s.
	HandOver time.Duration
	// Claim, when set, lets one of several processes that share the events
	// post each job's message and its notice at the end: it reports whether
	// key was claimed first (Store.FirstSeen). nil: this process is the
	// only one.
	Claim func(ctx context.Context, key string, ttl time.Duration) (bool, error)
	// Unclaim gives a claim back (the post failed), so that a later event
	// tries again at once instead of waiting for the claim to lapse.
	Unclaim func(ctx context.Context, key string) error
	// Authors, when set, finds who wrote a failed job's commit, whom its
	// notice mentions: the person who can fix it.
	Authors *Authors
}

type follower struct {
	stop atomic.Bool // stop following
	end  atomic.Bool // the job has ended: the sink shows its end
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
	if cfg.ResumeEvery <= 0 {
		cfg.ResumeEvery = 10 * time.Second
	}
	if cfg.HandOver <= 0 {
		cfg.HandOver = 45 * time.Second
	}
	return &Threads{
		store: s, log: l, surface: surface, links: cfg.Links, artLinks: cfg.ArtifactLinks, logger: cfg.Logger, poll: cfg.PollLog,
		upload: cfg.UploadFailed, quiet: cfg.QuietUnasked, resume: cfg.ResumeEvery, handOver: cfg.HandOver, claim: cfg.Claim, unclaim: cfg.Unclaim, authors: cfg.Authors,
		followers: map[int64]*follower{}, ending: map[int64]bool{}, ended: map[int64]bool{},
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
	posted := false
	if j.ThreadTS == "" {
		if posted, err = t.postJobMessage(ctx, j); err != nil {
			return err
		}
	}
	if !posted && (e.Type == jobs.EventState || e.Type == jobs.EventStep || e.Type == jobs.EventRetry) {
		// A final state is waited for, ahead of other edits; anything else
		// is queued, and a newer edit of the same message replaces it.
		if err := t.surface.Update(ctx, j.Channel, j.ThreadTS, JobMessage(j, t.store.Now(), t.link(j.ID))); err != nil {
			return fmt.Errorf("update message of job #%d: %w", j.ID, err)
		}
	}
	if posted && j.State == jobs.AwaitingApproval {
		if err := t.askApproval(ctx, j); err != nil {
			return err
		}
	}
	if j.State == jobs.Running {
		t.follow(ctx, j)
	}
	if e.Type == jobs.EventNote && e.Text != "" {
		if _, err := t.surface.Post(ctx, j.Channel, j.ThreadTS, Message{Text: e.Text, Weight: WeightAside}); err != nil {
			return fmt.Errorf("post in thread of job #%d: %w", j.ID, err)
		}
	}
	if final {
		return t.finish(ctx, j)
	}
	return nil
}

// askApproval asks the people who may approve deploy j, once, in its
// thread: the job message alone would notify nobody.
func (t *Threads) askApproval(ctx context.Context, j *jobs.Job) error {
	key := fmt.Sprintf("approval:job:%d", j.ID)
	if t.claim != nil {
		first, err := t.claim(ctx, key, 24*time.Hour)
		if err != nil || !first {
			return err
		}
	}
	m := Message{Text: commands.ApprovalRequest(j), Weight: WeightNotice, Buttons: []Button{
		{Label: "Approve", Action: commands.VerbApprove, Job: j.ID, Style: "primary"},
		{Label: "Reject", Action: commands.VerbReject, Job: j.ID, Style: "danger"},
	}}
	if _, err := t.surface.Post(ctx, j.Channel, j.ThreadTS, m); err != nil {
		if t.claim != nil && t.unclaim != nil {
			_ = t.unclaim(context.WithoutCancel(ctx), key)
		}
		return fmt.Errorf("ask for approval of job #%d: %w", j.ID, err)
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

// follow starts streaming job j's log into its thread, once: from the
// start, or from where its live log stopped when another process (or this
// one before a restart) showed it before.
func (t *Threads) follow(ctx context.Context, j *jobs.Job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.followers[j.ID]; ok || t.ending[j.ID] || t.ended[j.ID] {
		return
	}
	sink, err := t.surface.LiveLog(ctx, j)
	if errors.Is(err, ErrLiveLogElsewhere) || errors.Is(err, ErrLiveLogEnded) {
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
		_, err := t.log.Follow(bg, j.ID, from(sink), t.poll, t.stopFollowing(bg, j.ID, f), func(b []byte) error { return sink.Write(bg, b) })
		if err != nil {
			t.logger.Error("follow job log", "job", j.ID, "err", err)
		}
		if err := sink.Close(bg, f.end.Load()); err != nil {
			t.logger.Error("close live log", "job", j.ID, "err", err)
		}
		t.mu.Lock()
		if t.followers[j.ID] == f {
			delete(t.followers, j.ID)
		}
		if f.end.Load() {
			t.endedLocked(j.ID)
		}
		t.mu.Unlock()
	}()
}

// from is where in the log a sink goes on from.
func from(sink LogSink) int64 {
	if r, ok := sink.(interface{ From() int64 }); ok {
		return r.From()
	}
	return 0
}

// stopFollowing tells Follow when to stop: when told to, or when the job
// has ended (checked every 2s), whichever process handles its end.
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
		if err == nil && j.State.Final() {
			f.end.Store(true)
			return true
		}
		return false
	}
}

// endedLocked remembers that job id's live log showed the end here, so
// that its end is not shown twice (a surface without leases, the console,
// cannot tell); only recent jobs are remembered.
func (t *Threads) endedLocked(id int64) {
	if len(t.ended) >= 10000 {
		clear(t.ended)
	}
	t.ended[id] = true
}

// endFollower makes job id's live log here show the end, and reports
// whether there was one, or it showed the end already.
func (t *Threads) endFollower(id int64) bool {
	t.mu.Lock()
	f, ok := t.followers[id]
	done := t.ended[id]
	t.mu.Unlock()
	if done {
		return true
	}
	if ok {
		f.end.Store(true)
		f.stop.Store(true)
		<-f.done
	}
	return ok
}

// endLiveLog makes sure job j's live log ends with its last lines: the
// live log shown here ends; one shown by another process is left to it
// (it notices the end within seconds); one nobody shows (its process
// stopped or died, or nobody followed the job) is taken up here and read
// out from where it stopped.
func (t *Threads) endLiveLog(ctx context.Context, j *jobs.Job) {
	if t.endFollower(j.ID) {
		return
	}
	t.mu.Lock()
	t.ending[j.ID] = true
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.ending, j.ID)
		t.mu.Unlock()
	}()
	deadline := time.Now().Add(t.handOver)
	for {
		sink, err := t.surface.LiveLog(ctx, j)
		switch {
		case err == nil:
			t.readOut(ctx, j, sink)
			return
		case errors.Is(err, ErrLiveLogEnded):
			return
		case !errors.Is(err, ErrLiveLogElsewhere):
			t.logger.Error("take up the live log of an ended job", "job", j.ID, "err", err)
			return
		case time.Now().After(deadline):
			t.logger.Warn("another process still shows the live log of an ended job; leaving it", "job", j.ID)
			return
		}
		if sleep(ctx, time.Second) != nil {
			return
		}
	}
}

// readOut shows the rest of ended job j's log in sink, and its end.
func (t *Threads) readOut(ctx context.Context, j *jobs.Job, sink LogSink) {
	_, err := t.log.Follow(ctx, j.ID, from(sink), t.poll, func() bool { return true }, func(b []byte) error { return sink.Write(ctx, b) })
	if err != nil {
		t.logger.Error("read out job log", "job", j.ID, "err", err)
	}
	if err := sink.Close(ctx, err == nil); err != nil {
		t.logger.Error("close live log", "job", j.ID, "err", err)
	}
	t.mu.Lock()
	t.endedLocked(j.ID)
	t.mu.Unlock()
}

// finish shows the end of job j: its live log's last lines, then the one
// reply that tells people, and for a failure the whole log.
func (t *Threads) finish(ctx context.Context, j *jobs.Job) error {
	t.endLiveLog(ctx, j)
	return t.notify(ctx, j)
}

// tailLines is how many of a failed job's last lines its notice shows.
const tailLines = 15

// notify posts the reply at the end of job j's thread: it mentions the
// person who asked, says how the job ended, and for a failure shows the
// failing step's last lines with a Retry button and attaches the whole
// log. With QuietUnasked, a job nobody asked for (GitHub's) is only
// announced when it did not succeed. Of several processes, one posts it.
func (t *Threads) notify(ctx context.Context, j *jobs.Job) error {
	if t.quiet && j.Requester == "" && j.State == jobs.Succeeded {
		return nil
	}
	key := fmt.Sprintf("notice:job:%d", j.ID)
	if t.claim != nil {
		first, err := t.claim(ctx, key, 24*time.Hour)
		if err != nil || !first {
			return err
		}
	}
	m := Message{Text: commands.Summary(j, t.store.Now()), Mention: j.Requester, Weight: WeightNotice}
	m.Text += t.artifacts(j)
	if link := t.link(j.ID); link != "" {
		m.Text += say.F("\nWhole log: %s", say.LinkTo(link))
	}
	failed := j.State == jobs.Failed
	if failed {
		tail, err := t.log.Tail(ctx, j.ID, tailLines)
		if err != nil {
			t.logger.Warn("read the last lines of a failed job", "job", j.ID, "err", err)
		}
		m.Log = tail
		m.Text += t.author(ctx, j)
		m.Buttons = []Button{{Label: "Retry", Action: commands.VerbRetry, Job: j.ID, Style: "primary"}, {Label: "Logs", Action: commands.VerbLogs, Job: j.ID}}
	}
	if _, err := t.surface.Post(ctx, j.Channel, j.ThreadTS, m); err != nil {
		if t.claim != nil && t.unclaim != nil {
			_ = t.unclaim(context.WithoutCancel(ctx), key)
		}
		return fmt.Errorf("post the end of job #%d: %w", j.ID, err)
	}
	if failed && t.upload {
		return t.uploadLog(ctx, j)
	}
	return nil
}

// author is the line of a failed job's notice that names who wrote its
// commit, so that they are notified; "" when nobody is known.
func (t *Threads) author(ctx context.Context, j *jobs.Job) say.Text {
	who, err := t.authors.Find(ctx, j)
	if err != nil {
		t.logger.Warn("find the author of a failed job's commit", "job", j.ID, "err", err)
		return ""
	}
	if who == "" || who == j.Requester {
		return ""
	}
	return say.F("\nCommit by %s", commands.Mention(who))
}

// linkedArtifacts is how many artifacts a job's notice links one by one.
const linkedArtifacts = 5

// artifacts is what job j's notice says of its artifacts: a link to
// each of the first few, how many more the page has, and what was left
// out and why.
func (t *Threads) artifacts(j *jobs.Job) say.Text {
	r := j.Results
	if r == nil {
		return ""
	}
	var b say.Builder
	if len(r.Files) > 0 {
		b.F("\nArtifacts (%d):", len(r.Files))
		for _, f := range r.Files[:min(len(r.Files), linkedArtifacts)] {
			if t.artLinks != nil {
				b.F(" %s", say.LinkTo(t.artLinks(j.ID, f.Path)))
			} else {
				b.F(" %s", say.Quote(f.Path))
			}
		}
		if more := len(r.Files) - linkedArtifacts; more > 0 {
			b.F(" and %d more on the job page", more)
		}
	}
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "artifact limit ") || strings.HasPrefix(n, "artifacts ") {
			b.F("\n%s", say.Quote(n))
		}
	}
	return b.Text()
}

// uploadLog attaches job j's whole log to its thread.
func (t *Threads) uploadLog(ctx context.Context, j *jobs.Job) error {
	all, err := t.log.All(ctx, j.ID)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return nil
	}
	f := commands.File{Name: fmt.Sprintf("gantry-job-%d.log", j.ID), Title: "Log of " + j.Name(), Content: all}
	if err := t.surface.Upload(ctx, j.Channel, j.ThreadTS, f, ""); err != nil {
		t.logger.Error("upload the log of a failed job", "job", j.ID, "err", err)
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
// waiting, if not nil, hears the active jobs each time their states change.
func (t *Threads) WaitIdle(ctx context.Context, waiting func([]*jobs.Job)) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	said := ""
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
		// Say what is waited for whenever that changes, not on every tick.
		var now strings.Builder
		for _, j := range active {
			fmt.Fprintf(&now, "%d:%s ", j.ID, j.State)
		}
		if waiting != nil && len(active) > 0 && now.String() != said {
			said = now.String()
			waiting(active)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
