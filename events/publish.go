package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// Route is an endpoint as the Publisher sees it: its name and which event
// types it takes.
type Route struct {
	Endpoint string
	Types    []string // patterns (spec.MatchEventType); empty: every type
}

// Takes reports whether the route takes events of type typ.
func (r Route) Takes(typ string) bool {
	return len(r.Types) == 0 || slices.ContainsFunc(r.Types, func(p string) bool { return spec.MatchEventType(p, typ) })
}

// PublisherConfig configures a Publisher. Zero values are the defaults.
type PublisherConfig struct {
	// Namespace is the hash tag of the keys, the job store's; "" is "gantry".
	Namespace string
	Routes    []Route
	Links     func(id int64) string // the link to a job's page; nil: events link nowhere
	// MaxQueue is how many events may wait for one endpoint; an event
	// beyond it is dropped for that endpoint with an error in the log.
	// 0 is 10000.
	MaxQueue int64
	// StateTTL is how long a job's last state is kept for the next
	// event's previous_state; 0 is 90 days (the jobs' retention).
	StateTTL time.Duration
	// Lease is how long the process that turns events into deliveries
	// holds that job unless it renews it; 0 is 30 s.
	Lease time.Duration
	// Poll is how often a process that does not hold the lease looks
	// whether it may take it; 0 is 2 s.
	Poll    time.Duration
	Dropped func(endpoint string) // when set, called for each event dropped by a full queue
	Queued  func()                // when set, called after an event was queued (to wake a Sender)
	Logger  *slog.Logger          // nil: discard
	Now     func() time.Time      // nil: time.Now
}

// Publisher turns the job events announced on the events stream into
// deliveries for each endpoint. Any number of processes may run one: one
// at a time holds the lease and reads the stream in order from a cursor
// kept in Redis, and the script that queues an event's deliveries moves
// that cursor past it, so each event is queued once, in order.
//
// (A consumer group would hand the events of one job to different
// processes, which could queue them out of order; the lease and the
// cursor keep the order and still let another process take over.)
type Publisher struct {
	store *jobs.Store
	box   *rdb.EventsOut
	cfg   PublisherConfig
	log   *slog.Logger
	token string
}

// NewPublisher returns a Publisher reading store's events and queueing
// deliveries in the Redis of r.
func NewPublisher(store *jobs.Store, r *rdb.Client, cfg PublisherConfig) *Publisher {
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 10000
	}
	if cfg.StateTTL <= 0 {
		cfg.StateTTL = spec.DefaultJobRetention
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Publisher{store: store, box: rdb.NewEventsOut(r, cfg.Namespace), cfg: cfg, log: cfg.Logger, token: newToken()}
}

func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Start makes sure the cursor exists: the first time events are
// configured it is set to the newest event, so that what happens from
// then on is published (and nothing from before). Call it before jobs
// can move.
func (p *Publisher) Start(ctx context.Context) error {
	last, err := p.store.LastEventID(ctx)
	if err != nil {
		return err
	}
	if _, err := p.box.StartCursor(ctx, last); err != nil {
		return fmt.Errorf("start the events-out cursor: %w", err)
	}
	return nil
}

// Run queues deliveries until ctx ends.
func (p *Publisher) Run(ctx context.Context) error {
	if err := p.Start(ctx); err != nil && ctx.Err() == nil {
		p.log.Error("start publishing job events", "err", err)
	}
	defer func() { _ = p.box.Resign(context.WithoutCancel(ctx), p.token) }()
	cursor := ""
	for ctx.Err() == nil {
		ok, err := p.box.Lead(ctx, p.token, p.cfg.Lease)
		if err != nil || !ok {
			if err != nil && ctx.Err() == nil {
				p.log.Error("take the lease to publish job events", "err", err)
			}
			cursor = ""
			sleep(ctx, p.cfg.Poll)
			continue
		}
		if cursor == "" {
			// Just became the one who publishes: go on from where the last
			// one stopped.
			if cursor, err = p.box.StartCursor(ctx, "0-0"); err != nil {
				p.log.Error("read the events-out cursor", "err", err)
				cursor = ""
				sleep(ctx, p.cfg.Poll)
				continue
			}
		}
		next, err := p.poll(ctx, cursor, min(2*time.Second, p.cfg.Lease/4))
		if err != nil {
			if ctx.Err() == nil {
				p.log.Error("publish job events", "err", err)
				sleep(ctx, time.Second)
			}
			cursor = "" // read it again from Redis
			continue
		}
		cursor = next
	}
	return nil
}

// errNotLeader says the lease was lost while publishing.
var errNotLeader = errors.New("another process took over publishing job events")

// poll reads the events after cursor, waiting up to block for the first,
// queues their deliveries and returns the new cursor.
func (p *Publisher) poll(ctx context.Context, cursor string, block time.Duration) (string, error) {
	evs, err := p.store.ReadEvents(ctx, cursor, 64, block)
	if err != nil {
		return cursor, err
	}
	for _, e := range evs {
		if err := p.publish(ctx, e); err != nil {
			return cursor, err
		}
		cursor = e.ID
	}
	return cursor, nil
}

// publish queues the deliveries of one event.
func (p *Publisher) publish(ctx context.Context, e jobs.Event) error {
	if e.Type != jobs.EventState && e.Type != jobs.EventRetry {
		return nil // steps and notes are not published; the cursor moves with the next event
	}
	j, err := p.store.Get(ctx, e.Job)
	if errors.Is(err, jobs.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read job #%d: %w", e.Job, err)
	}
	prev, err := p.box.LastState(ctx, e.Job)
	if err != nil {
		return fmt.Errorf("read job #%d's last state published: %w", e.Job, err)
	}
	link := ""
	if p.cfg.Links != nil {
		link = p.cfg.Links(j.ID)
	}
	ev := newEvent(e, j, prev, link)
	body, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	now := p.cfg.Now()
	ds := make([]rdb.EventDelivery, len(p.cfg.Routes))
	queued := false
	for i, r := range p.cfg.Routes {
		ds[i].Endpoint = r.Endpoint
		if !r.Takes(ev.Type) {
			continue
		}
		item, err := json.Marshal(delivery{ID: ev.ID, Type: ev.Type, Time: ev.Time, Job: ev.Job, Body: body, Queued: now})
		if err != nil {
			return err
		}
		ds[i].Item, queued = item, true
	}
	res, full, err := p.box.FanOut(ctx, p.token, e.ID, e.Job, string(e.State), p.cfg.StateTTL, ds, now, p.cfg.MaxQueue)
	if err != nil {
		return fmt.Errorf("queue job #%d's %s event: %w", e.Job, ev.Type, err)
	}
	switch res {
	case rdb.NotLeader:
		return errNotLeader
	case rdb.AlreadyDone:
		return nil
	}
	for _, ep := range full {
		p.log.Error("events endpoint queue is full: event dropped", "endpoint", ep, "job", e.Job, "type", ev.Type, "max_queue", p.cfg.MaxQueue)
		if p.cfg.Dropped != nil {
			p.cfg.Dropped(ep)
		}
	}
	if queued && p.cfg.Queued != nil {
		p.cfg.Queued()
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
