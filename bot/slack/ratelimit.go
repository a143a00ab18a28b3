package slack

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Limit is how often one Web API method may be called.
type Limit struct {
	PerMinute float64 // calls a minute for the whole workspace; 0: not limited
	Burst     int     // calls that may go at once after a quiet spell; 0 is 1
	// PerChannelPerMinute and ChannelBurst limit the calls into one channel
	// (chat.postMessage: about one a second per channel). 0: not limited.
	PerChannelPerMinute float64
	ChannelBurst        int
}

// DefaultLimits follows Slack's published tiers: Tier 2 about 20 calls a
// minute, Tier 3 about 50, Tier 4 about 100; chat.postMessage about one a
// second per channel with short bursts. Slack does not publish its bursts;
// those for posting and chat.update stay a little under what the fake Slack
// of the tests allows (internal/slackserver.DefaultLimits), so that calls
// that leave here in time do not arrive too close together. The "" entry
// applies to any other method.
func DefaultLimits() map[string]Limit {
	tier2 := Limit{PerMinute: 20, Burst: 3}
	tier3 := Limit{PerMinute: 50, Burst: 10}
	tier4 := Limit{PerMinute: 100, Burst: 20}
	return map[string]Limit{
		MethodPostMessage:    {PerMinute: 300, Burst: 30, PerChannelPerMinute: 60, ChannelBurst: 3},
		MethodUpdate:         {PerMinute: 50, Burst: 18},
		MethodPostEphemeral:  tier4,
		MethodHistory:        tier3,
		MethodReplies:        tier3,
		MethodGetUploadURL:   tier4,
		MethodUpload:         tier4,
		MethodCompleteUpload: tier4,
		MethodUserGroups:     tier2,
		MethodGroupMembers:   tier2,
		MethodChannelInfo:    tier3,
		MethodChannelMembers: tier4,
		MethodUserInfo:       tier4,
		MethodUserByEmail:    tier3,
		MethodUsers:          tier2,
		MethodChannels:       tier2,
		MethodResponseURL:    {PerMinute: 6000, Burst: 200},
		"":                   tier3,
	}
}

// Priority orders the calls that wait for the same limit: a higher one goes
// first, and a lower one leaves part of the limit's burst unused, so that a
// higher one that comes later still goes at once.
type Priority int

const (
	// Background calls (a running job's live log, notes) go when nothing
	// else waits for their limit, and leave three quarters of its burst to
	// the others.
	Background Priority = iota
	// Normal calls (a running job's message, notices) leave half the burst
	// to urgent ones: when ten jobs end at once, their final states go out
	// at once.
	Normal
	// Urgent calls (a job's message, the edit that shows how a job ended,
	// answers to people) go first and may spend the whole burst.
	Urgent
)

// reserve is how many tokens of a bucket of burst calls of p leave alone.
func (p Priority) reserve(burst float64) float64 {
	switch p {
	case Background:
		return math.Floor(burst * 3 / 4)
	case Normal:
		return math.Floor(burst / 2)
	}
	return 0
}

// SchedulerConfig configures a Scheduler. Zero values are the defaults.
type SchedulerConfig struct {
	// Limits replaces entries of DefaultLimits, by method.
	Limits map[string]Limit
	// Attempts is how often a call that fails transiently (Slack's 5xx,
	// internal_error, a network error) is tried in all; 0 is 5. A 429 does
	// not count: it is waited out, up to MaxRateLimited times.
	Attempts       int
	MaxRateLimited int           // 0 is 20
	Backoff        time.Duration // wait before the second try, doubling after; 0 is 1s
	// OnFatal is called once when Slack answers that the token is not
	// accepted (invalid_auth, token_revoked, ...).
	OnFatal func(error)
	// Failed, when set, is told of every call Slack answered with an
	// error or that did not reach it (the external call error metric).
	Failed func(method string)
	Logger *slog.Logger
}

// Scheduler sends every Web API call gantry makes: it keeps each method
// (and, for posting, each channel) within its limit, lets urgent calls go
// ahead of others that wait for the same limit, pauses a method (for
// posting, a channel) for the Retry-After of a 429, retries transient
// failures, and coalesces edits of one message so that only the newest is
// sent.
type Scheduler struct {
	limits    map[string]Limit
	attempts  int
	maxLimits int
	backoff   time.Duration
	logger    *slog.Logger
	fatalOnce sync.Once
	onFatal   func(error)
	failed    func(method string)

	base   context.Context // coalesced edits are sent in it
	cancel context.CancelFunc

	mu      sync.Mutex
	buckets map[string]*bucket
	paused  map[string]time.Time // method, or method and channel -> until
	queues  map[string]map[*waiter]bool
	seq     uint64
	changed chan struct{} // closed and replaced when a waiter may go
	edits   map[string]*editQueue
}

// waiter is one call waiting for its limits.
type waiter struct {
	prio Priority // may be raised while it waits (Scheduler.raise)
	seq  uint64
}

// before reports whether w goes before o.
func (w *waiter) before(o *waiter) bool {
	if w.prio != o.prio {
		return w.prio > o.prio
	}
	return w.seq < o.seq
}

// NewScheduler returns a Scheduler; Close stops it.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	limits := DefaultLimits()
	for m, l := range cfg.Limits {
		limits[m] = l
	}
	s := &Scheduler{
		limits: limits, attempts: cfg.Attempts, maxLimits: cfg.MaxRateLimited, backoff: cfg.Backoff,
		logger: cfg.Logger, onFatal: cfg.OnFatal, failed: cfg.Failed,
		buckets: map[string]*bucket{}, paused: map[string]time.Time{}, queues: map[string]map[*waiter]bool{},
		changed: make(chan struct{}), edits: map[string]*editQueue{},
	}
	if s.attempts <= 0 {
		s.attempts = 5
	}
	if s.maxLimits <= 0 {
		s.maxLimits = 20
	}
	if s.backoff <= 0 {
		s.backoff = time.Second
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s
}

// Close stops sending coalesced edits; their callers get an error.
func (s *Scheduler) Close() { s.cancel() }

// Call is one Web API call. attempt is 1 on the first try: a call that
// posts must check, on a later attempt, whether an earlier one took effect.
type Call func(ctx context.Context, attempt int) error

// Do sends call, a call of method into channel ("" for none), with Normal
// priority; see DoPriority.
func (s *Scheduler) Do(ctx context.Context, method, channel string, call Call) error {
	return s.DoPriority(ctx, Normal, method, channel, call)
}

// DoPriority sends call, a call of method into channel ("" for none), when
// the limits allow and no call of a higher priority (or an earlier one of
// the same) waits for them, and tries again after a 429 or a transient
// failure.
func (s *Scheduler) DoPriority(ctx context.Context, p Priority, method, channel string, call Call) error {
	return s.do(ctx, &waiter{prio: p}, method, channel, nil, call)
}

// do is DoPriority for waiter w. gap, when set, is how long to wait before
// each try (an edit's spacing).
func (s *Scheduler) do(ctx context.Context, w *waiter, method, channel string, gap func() time.Duration, call Call) error {
	failures, limited := 0, 0
	for attempt := 1; ; attempt++ {
		if gap != nil {
			if err := sleep(ctx, gap()); err != nil {
				return err
			}
		}
		if err := s.admit(ctx, w, method, channel); err != nil {
			return err
		}
		err := call(ctx, attempt)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", method, ctx.Err())
		}
		if s.failed != nil {
			s.failed(method)
		}
		if rl, ok := rateLimited(err); ok {
			limited++
			if limited >= s.maxLimits {
				return fmt.Errorf("%s: still rate limited after %d tries: %w", method, limited, err)
			}
			pause := rl.RetryAfter
			if pause <= 0 {
				pause = s.backoff
			}
			s.logger.Warn("slack rate limit: pausing method", "method", method, "channel", channel, "retry_after", pause)
			s.pause(method, channel, pause)
			continue
		}
		if IsFatalAuth(err) {
			s.fatalOnce.Do(func() {
				if s.onFatal != nil {
					s.onFatal(err)
				}
			})
			return fmt.Errorf("%s: %w", method, err)
		}
		failures++
		if !isTransient(err) || failures >= s.attempts {
			return fmt.Errorf("%s: %w", method, err)
		}
		wait := s.backoff << (failures - 1)
		s.logger.Warn("slack call failed; trying again", "method", method, "attempt", attempt, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (s *Scheduler) limit(method string) Limit {
	if l, ok := s.limits[method]; ok {
		return l
	}
	return s.limits[""]
}

// pauseKey is what a 429 of method into channel pauses: the channel alone
// for a method limited per channel (chat.postMessage), else the method.
func (s *Scheduler) pauseKey(method, channel string) string {
	if channel != "" && s.limit(method).PerChannelPerMinute > 0 {
		return method + " " + channel
	}
	return method
}

// pause holds calls of method (into channel) back for d after a 429, and
// empties their buckets: Slack counted calls this process did not see.
func (s *Scheduler) pause(method, channel string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.pauseKey(method, channel)
	if until := time.Now().Add(d); until.After(s.paused[key]) {
		s.paused[key] = until
	}
	for _, k := range []string{method, method + " " + channel} {
		if b := s.buckets[k]; b != nil {
			b.tokens = min(b.tokens, 0)
		}
	}
}

// raise lifts the priority of a waiting call.
func (s *Scheduler) raise(w *waiter, p Priority) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raiseLocked(w, p)
}

func (s *Scheduler) raiseLocked(w *waiter, p Priority) {
	if p > w.prio {
		w.prio = p
		s.notifyLocked()
	}
}

func (s *Scheduler) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// queueKey names the queue in which calls of method into channel wait
// their turn: the channel's, for a method limited per channel, so that
// channels do not wait for each other; "" when nothing limits the method.
func (s *Scheduler) queueKey(method, channel string) string {
	l := s.limit(method)
	switch {
	case channel != "" && l.PerChannelPerMinute > 0:
		return method + " " + channel
	case l.PerMinute > 0:
		return method
	}
	return ""
}

// admit returns when w, a call of method into channel, may go: its limits
// have a token for it beyond what its priority leaves to others, and no
// call before it waits in its queue.
func (s *Scheduler) admit(ctx context.Context, w *waiter, method, channel string) error {
	qk := s.queueKey(method, channel)
	s.mu.Lock()
	s.seq++
	w.seq = s.seq
	q := s.queues[qk]
	if q == nil {
		q = map[*waiter]bool{}
		s.queues[qk] = q
	}
	q[w] = true
	defer func() {
		delete(q, w)
		if len(q) == 0 {
			delete(s.queues, qk)
		}
		s.notifyLocked()
		s.mu.Unlock()
	}()
	for {
		wait, ok := s.tryLocked(w, q, method, channel, time.Now())
		if ok {
			return nil
		}
		changed := s.changed
		s.mu.Unlock()
		err := sleepUntil(ctx, wait, changed)
		s.mu.Lock()
		if err != nil {
			return err
		}
	}
}

// tryLocked takes w's tokens when it may go, or says how long to wait
// before trying again (-1: until something changes).
func (s *Scheduler) tryLocked(w *waiter, q map[*waiter]bool, method, channel string, now time.Time) (time.Duration, bool) {
	for _, k := range []string{method, s.pauseKey(method, channel)} {
		if until := s.paused[k]; now.Before(until) {
			return until.Sub(now), false
		}
	}
	for o := range q {
		if o != w && o.before(w) {
			return -1, false
		}
	}
	l := s.limit(method)
	var bs []*bucket
	if l.PerMinute > 0 {
		bs = append(bs, s.bucketLocked(method, l.PerMinute, l.Burst))
	}
	if channel != "" && l.PerChannelPerMinute > 0 {
		bs = append(bs, s.bucketLocked(method+" "+channel, l.PerChannelPerMinute, l.ChannelBurst))
	}
	var wait time.Duration
	for _, b := range bs {
		b.refill(now)
		if need := 1 + w.prio.reserve(b.burst) - b.tokens; need > 0 {
			wait = max(wait, time.Duration(need/b.rate*float64(time.Second))+time.Millisecond)
		}
	}
	if wait > 0 {
		return wait, false
	}
	for _, b := range bs {
		b.tokens--
	}
	return 0, true
}

func (s *Scheduler) bucketLocked(key string, perMinute float64, burst int) *bucket {
	b := s.buckets[key]
	if b == nil {
		b = &bucket{rate: perMinute / 60, burst: float64(max(burst, 1))}
		b.tokens = b.burst
		s.buckets[key] = b
	}
	return b
}

// bucket is a token bucket: a call takes a token, and tokens come back at
// rate up to burst.
type bucket struct {
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) refill(now time.Time) {
	if !b.last.IsZero() && now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	if now.After(b.last) {
		b.last = now
	}
}

// sleepUntil waits d (d < 0: no time limit) or until changed is closed.
func sleepUntil(ctx context.Context, d time.Duration, changed <-chan struct{}) error {
	var timer <-chan time.Time
	if d >= 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-changed:
	case <-timer:
	}
	return nil
}

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
