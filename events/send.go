package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Endpoint delivers events to one place.
type Endpoint interface {
	// Name is the endpoint's queue: stable across restarts, unique among
	// the endpoints.
	Name() string
	// Batch is how many events one Send may take.
	Batch() int
	// Send delivers evs, in order, and returns one error per event: nil
	// when it was delivered. An error wrapping ErrPermanent is not tried
	// again; RetryAfter says when to try again at the earliest.
	Send(ctx context.Context, evs []Outgoing) []error
}

// ErrPermanent marks an error that sending again will not mend (the
// endpoint refused the event): the event is dead-lettered at once.
var ErrPermanent = errors.New("permanent")

// retryAfterError is an error whose endpoint said when to try again.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// RetryAfter says err is not to be tried again before d has passed.
func RetryAfter(err error, d time.Duration) error { return &retryAfterError{err: err, after: d} }

// SenderConfig configures a Sender. Zero values are the defaults.
type SenderConfig struct {
	Namespace string // the hash tag of the keys, the job store's; "" is "gantry"
	// MaxAge is how long an event may wait for an endpoint before it is
	// given up and dead-lettered; 0 is 24h.
	MaxAge time.Duration
	// Backoff is the wait after an event's first failure, doubling with
	// each after up to MaxBackoff; 0 is 1 s and 5 minutes.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// Lease is how long a process may hold an endpoint while it delivers;
	// it must outlast a Send (the endpoints' timeouts). 0 is 2 minutes.
	Lease time.Duration
	// Poll is how often Run looks for events other processes queued and
	// retries that came due; 0 is 1 s.
	Poll   time.Duration
	Failed func(endpoint string) // when set, called for each failed try of an event
	Dead   func(endpoint string) // when set, called for each event dead-lettered
	Logger *slog.Logger          // nil: discard
	Now    func() time.Time      // nil: time.Now
}

// Sender delivers the queued events to endpoints: each endpoint's events
// in order, one batch at a time, by whichever process holds its lease;
// different endpoints at once, so a slow one holds up no other. An event
// that fails is tried again with exponential backoff (or when the endpoint
// says, Retry-After) until MaxAge, then dead-lettered, as is one the
// endpoint refuses.
type Sender struct {
	box       *rdb.EventsOut
	cfg       SenderConfig
	log       *slog.Logger
	endpoints map[string]Endpoint
	token     string
	wake      chan struct{}

	mu   sync.Mutex
	busy map[string]bool
}

// NewSender returns a Sender to endpoints over the Redis of r.
func NewSender(r *rdb.Client, endpoints []Endpoint, cfg SenderConfig) *Sender {
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 24 * time.Hour
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 2 * time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	eps := make(map[string]Endpoint, len(endpoints))
	for _, e := range endpoints {
		eps[e.Name()] = e
	}
	return &Sender{box: rdb.NewEventsOut(r, cfg.Namespace), cfg: cfg, log: cfg.Logger, endpoints: eps,
		token: newToken(), wake: make(chan struct{}, 1), busy: map[string]bool{}}
}

// Wake makes Run look for due events now, e.g. after a Publisher queued
// some in this process.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run delivers events until ctx ends. What it has not delivered then
// waits in Redis for the next Sender; a Send under way is cut short.
func (s *Sender) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for ctx.Err() == nil {
		due, err := s.box.Due(ctx, s.cfg.Now(), 64)
		if err != nil && ctx.Err() == nil {
			s.log.Error("read events due for delivery", "err", err)
		}
		for _, name := range due {
			ep, ok := s.endpoints[name]
			if !ok {
				continue // an endpoint another process knows (or one no longer configured)
			}
			s.mu.Lock()
			busy := s.busy[name]
			s.busy[name] = true
			s.mu.Unlock()
			if busy {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.busy, name)
					s.mu.Unlock()
					s.Wake() // its next batch may be due at once
				}()
				s.deliver(ctx, ep)
			}()
		}
		t := time.NewTimer(s.cfg.Poll)
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// deliver sends the first batch of ep's events, if it is due and no one
// else holds it, and records what became of each.
func (s *Sender) deliver(ctx context.Context, ep Endpoint) {
	name := ep.Name()
	now := s.cfg.Now()
	items, err := s.box.Claim(ctx, name, s.token, now, s.cfg.Lease, max(ep.Batch(), 1))
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("claim events for delivery", "endpoint", name, "err", err)
		}
		return
	}
	if len(items) == 0 {
		return
	}
	ds := make([]delivery, 0, len(items))
	var dead [][]byte
	for _, it := range items {
		var d delivery
		if err := json.Unmarshal(it, &d); err != nil {
			s.log.Error("an unreadable event delivery: dead-lettered", "endpoint", name, "err", err)
			dead = append(dead, it)
			continue
		}
		ds = append(ds, d)
	}
	out := make([]Outgoing, len(ds))
	for i, d := range ds {
		out[i] = Outgoing{ID: d.ID, Delivery: d.ID + "." + name, Type: d.Type, Time: d.Time, Job: d.Job, Body: d.Body}
	}
	var errs []error
	if len(out) > 0 {
		errs = ep.Send(ctx, out)
	}
	if ctx.Err() != nil {
		// Stopping: whatever was sent may be sent again by the next
		// holder; better twice than never.
		if _, err := s.box.Release(context.WithoutCancel(ctx), name, s.token, s.cfg.Now()); err != nil {
			s.log.Error("give back events for delivery", "endpoint", name, "err", err)
		}
		return
	}
	now = s.cfg.Now()
	var keep [][]byte
	next := time.Time{}
	why := ""
	for i, d := range ds {
		var err error
		if i < len(errs) {
			err = errs[i]
		}
		if err == nil {
			continue
		}
		if s.cfg.Failed != nil {
			s.cfg.Failed(name)
		}
		d.Tries++
		d.LastError = err.Error()
		attrs := []any{"endpoint", name, "job", d.Job, "type", d.Type, "event", d.ID, "tries", d.Tries, "err", err}
		item, _ := json.Marshal(d)
		if errors.Is(err, ErrPermanent) || now.Sub(d.Queued) >= s.cfg.MaxAge {
			s.log.Error("event delivery given up: dead-lettered", attrs...)
			if s.cfg.Dead != nil {
				s.cfg.Dead(name)
			}
			dead, why = append(dead, item), err.Error()
			continue
		}
		wait := s.backoff(d.Tries)
		var ra *retryAfterError
		if errors.As(err, &ra) && ra.after > wait {
			wait = ra.after
		}
		if t := now.Add(wait); next.IsZero() || t.After(next) {
			next = t
		}
		s.log.Warn("event delivery failed; it will be tried again", append(attrs, "in", wait)...)
		keep = append(keep, item)
	}
	ok, err := s.box.Finish(context.WithoutCancel(ctx), name, s.token, now, next, len(items), keep, dead, why)
	if err != nil {
		s.log.Error("record event deliveries", "endpoint", name, "err", err)
	} else if !ok {
		s.log.Warn("lost the lease of an events endpoint while delivering: another process may deliver the same events again", "endpoint", name)
	}
}

// backoff is the wait after the tries-th failure: Backoff doubling up to
// MaxBackoff, with up to a fifth of jitter.
func (s *Sender) backoff(tries int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < tries && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxBackoff)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}
