package slackserver

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// Limit is how often Slack lets the app call one Web API method: Burst
// calls at once after a quiet spell, then PerMinute, as a token bucket.
// PerChannel counts the calls into each channel apart (chat.postMessage's
// "about one message a second per channel") instead of all the app's calls.
type Limit struct {
	PerMinute  float64
	Burst      int
	PerChannel bool
}

// DefaultLimits are the limits a Server enforces unless told otherwise:
// chat.postMessage about one a second per channel with a burst of 4,
// chat.update in Tier 3, 50 a minute with a burst of 20, and the lists
// users.list and conversations.list in Tier 2, 20 a minute with a burst of
// 5. Slack publishes the
// rates, not the bursts ("Tier 3: 50+ per minute, occasional bursts"); the
// bursts here are modest guesses, so a client that keeps to them keeps to
// Slack's.
func DefaultLimits() map[string]Limit {
	return map[string]Limit{
		"chat.postMessage":   {PerMinute: 60, Burst: 4, PerChannel: true},
		"chat.update":        {PerMinute: 50, Burst: 20},
		"users.list":         {PerMinute: 20, Burst: 5},
		"conversations.list": {PerMinute: 20, Burst: 5},
	}
}

// WithoutRateLimits turns the limits of DefaultLimits off. Every test runs
// under them unless it measures something they would only slow down (say
// why where it is used).
func WithoutRateLimits() Option {
	return func(c *config) { c.limits = map[string]Limit{} }
}

// WithRateLimits replaces the limits of the methods named; a zero Limit
// takes a method's limit away.
func WithRateLimits(limits map[string]Limit) Option {
	return func(c *config) {
		for m, l := range limits {
			if l.PerMinute <= 0 {
				delete(c.limits, m)
				continue
			}
			c.limits[m] = l
		}
	}
}

// tokens is one token bucket of the limiter.
type tokens struct {
	rate   float64 // tokens a second
	burst  float64
	have   float64
	filled time.Time
}

func (b *tokens) refill(now time.Time) {
	if now.Before(b.filled) {
		return // requests read at once may be stamped out of order
	}
	b.have = min(b.burst, b.have+now.Sub(b.filled).Seconds()*b.rate)
	b.filled = now
}

// throttleLocked answers a call of req's method that goes over its limit:
// HTTP 429 with Retry-After in whole seconds (at least 1), as Slack does.
// It returns nil when the call may go, having spent its token; refund gives
// the token back, so that a call answered with an injected fault before it
// ran costs nothing.
func (s *Server) throttleLocked(req *apiRequest) (rejected *reply, refund func()) {
	l, ok := s.cfg.limits[req.method]
	if !ok {
		return nil, func() {}
	}
	key := req.method
	if l.PerChannel {
		key += " " + req.args.Get("channel")
	}
	b := s.buckets[key]
	if b == nil {
		b = &tokens{rate: l.PerMinute / 60, burst: float64(max(l.Burst, 1)), filled: req.at}
		b.have = b.burst
		s.buckets[key] = b
	}
	b.refill(req.at)
	if b.have >= 1 {
		b.have--
		return nil, func() { b.have = min(b.burst, b.have+1) }
	}
	wait := (1 - b.have) / b.rate
	secs := max(int64(1), int64(math.Ceil(wait)))
	return &reply{
		status:      http.StatusTooManyRequests,
		contentType: "application/json; charset=utf-8",
		body:        []byte(`{"ok":false,"error":"ratelimited"}`),
		errCode:     "ratelimited",
		header:      http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}},
		throttled:   true,
	}, nil
}

// Throttled returns how many calls of method ("" for all) the limits
// answered with 429; injected RateLimit faults do not count.
func (s *Server) Throttled(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Throttled && (method == "" || c.Method == method) {
			n++
		}
	}
	return n
}
