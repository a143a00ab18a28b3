package bot

import (
	"context"
	"fmt"
	"log/slog"
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
// second per channel with short bursts. The "" entry applies to any other
// method.
func DefaultLimits() map[string]Limit {
	tier2 := Limit{PerMinute: 20, Burst: 3}
	tier3 := Limit{PerMinute: 50, Burst: 10}
	tier4 := Limit{PerMinute: 100, Burst: 20}
	return map[string]Limit{
		MethodPostMessage:    {PerMinute: 300, Burst: 30, PerChannelPerMinute: 60, ChannelBurst: 5},
		MethodUpdate:         tier3,
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
		MethodResponseURL:    {PerMinute: 6000, Burst: 200},
		"":                   tier3,
	}
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
// (and, for posting, each channel) within its limit, pauses a method for
// the Retry-After of a 429, retries transient failures, and coalesces edits
// of one message so that only the newest is sent.
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
	paused  map[string]time.Time // method -> until
	edits   map[string]*editQueue
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
		buckets: map[string]*bucket{}, paused: map[string]time.Time{}, edits: map[string]*editQueue{},
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

// Do sends call, a call of method into channel ("" for none), when the
// limits allow, and tries again after a 429 or a transient failure.
func (s *Scheduler) Do(ctx context.Context, method, channel string, call Call) error {
	failures, limited := 0, 0
	for attempt := 1; ; attempt++ {
		if err := s.wait(ctx, method, channel); err != nil {
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
			s.logger.Warn("slack rate limit: pausing method", "method", method, "retry_after", pause)
			s.pause(method, pause)
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

func (s *Scheduler) pause(method string, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if until := time.Now().Add(d); until.After(s.paused[method]) {
		s.paused[method] = until
	}
}

// wait returns when a call of method into channel may go.
func (s *Scheduler) wait(ctx context.Context, method, channel string) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		now := time.Now()
		if until := s.paused[method]; now.Before(until) {
			s.mu.Unlock()
			if err := sleep(ctx, until.Sub(now)); err != nil {
				return err
			}
			continue
		}
		l, ok := s.limits[method]
		if !ok {
			l = s.limits[""]
		}
		var d time.Duration
		if l.PerMinute > 0 {
			d = s.bucketLocked(method, l.PerMinute, l.Burst).reserve(now)
		}
		if channel != "" && l.PerChannelPerMinute > 0 {
			d = max(d, s.bucketLocked(method+" "+channel, l.PerChannelPerMinute, l.ChannelBurst).reserve(now))
		}
		s.mu.Unlock()
		if d <= 0 {
			return nil
		}
		if err := sleep(ctx, d); err != nil {
			return err
		}
		s.mu.Lock()
		until := s.paused[method]
		s.mu.Unlock()
		if !time.Now().Before(until) {
			return nil
		}
	}
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

// bucket is a token bucket whose tokens may go negative: each call
// reserves a token and waits until the bucket has refilled to it, so
// callers go in the order they came.
type bucket struct {
	rate   float64 // tokens a second
	burst  float64
	tokens float64
	last   time.Time
}

func (b *bucket) reserve(now time.Time) time.Duration {
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / b.rate * float64(time.Second))
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
