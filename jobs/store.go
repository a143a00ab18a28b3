package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/say"
)

// Store keeps job records, announces their transitions and feeds the queue.
// Every change that touches more than one key is a single Lua script (in
// internal/rdb).
type Store struct {
	c        *rdb.Client
	keys     rdb.Keys
	now      func() time.Time
	records  *rdb.Records
	events   *rdb.Events
	envs     *rdb.Envs
	audit    *rdb.Audit
	messages *rdb.Messages
	seen     *rdb.Seen
	names    *rdb.Names
	cancels  *rdb.Cancels

	eventsMaxLen  int64
	writeRetryFor time.Duration
	retention     time.Duration
}

// DefaultRetention is how long a finished job's record is kept.
const DefaultRetention = 90 * 24 * time.Hour

// StoreConfig configures a Store. Zero values are the defaults.
type StoreConfig struct {
	Namespace    string           // key namespace; "" is "gantry"
	Now          func() time.Time // clock; nil is time.Now
	EventsMaxLen int64            // events kept for late readers; 0 is 100,000
	// WriteRetryFor is how long a record write is tried again while Redis
	// cannot be reached; 0 is 2 minutes.
	WriteRetryFor time.Duration
	// Retention is how long a job's record, its place in the list of
	// recent jobs and the index of its message are kept after it ends;
	// 0 is DefaultRetention.
	Retention time.Duration
}

// NewStore returns a Store on c.
func NewStore(c *rdb.Client, cfg StoreConfig) *Store {
	s := &Store{c: c, keys: rdb.NewKeys(cfg.Namespace), now: cfg.Now,
		eventsMaxLen: cfg.EventsMaxLen, writeRetryFor: cfg.WriteRetryFor, retention: cfg.Retention}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.writeRetryFor <= 0 {
		s.writeRetryFor = 2 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.eventsMaxLen == 0 {
		s.eventsMaxLen = 100_000
	}
	k := s.keys
	s.records = rdb.NewRecords(c, k, s.eventsMaxLen, s.retention)
	s.events = rdb.NewEvents(c, k, s.eventsMaxLen)
	s.envs = rdb.NewEnvs(c, k)
	s.audit = rdb.NewAudit(c, k)
	s.messages = rdb.NewMessages(c, k, s.retention)
	s.seen = rdb.NewSeen(c, k)
	s.names = rdb.NewNames(c, k)
	s.cancels = rdb.NewCancels(c, k)
	return s
}

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// Create numbers the job, writes its record and, when its state is Queued,
// puts it on the queue; all at once. j.ID, j.Created and j.Attempt are set.
func (s *Store) Create(ctx context.Context, j *Job) error {
	if j.State == "" {
		j.State = Queued
	}
	if j.State != Queued && j.State != AwaitingApproval {
		return fmt.Errorf("create job in state %s: a new job is queued or awaiting_approval", j.State)
	}
	if j.Created.IsZero() {
		j.Created = s.now()
	}
	if j.Attempt == 0 {
		j.Attempt = 1
	}
	f, err := j.fields()
	if err != nil {
		return err
	}
	env := ""
	if j.Kind == Deploy {
		env = j.Env
	}
	id, err := s.records.Create(ctx, rdb.NewJob{
		State: string(j.State), Created: j.Created, Requester: j.Requester, Env: env,
		// Jobs created before the retention are no longer listed as recent.
		Since:  s.now().Add(-s.retention),
		Class:  j.Class(),
		Fields: nonEmpty(f),
	})
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	j.ID = id
	return nil
}

// nonEmpty drops the fields whose value is "" from name/value pairs: a
// field missing from the record reads as "", and the record is smaller to
// write and to read.
func nonEmpty(f []string) []string {
	out := f[:0]
	for i := 0; i+1 < len(f); i += 2 {
		if f[i+1] == "" {
			continue
		}
		out = append(out, f[i], f[i+1])
	}
	return out
}

// Get reads job id.
func (s *Store) Get(ctx context.Context, id int64) (*Job, error) {
	m, err := s.records.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read job #%d: %w", id, err)
	}
	return decodeJob(id, m)
}

// Change is one transition of a job's state.
type Change struct {
	From []State // states it may move from; empty: any state that is not final
	To   State
	Set  Fields   // further fields of the record to write
	Type string   // the event's type; "" is "state"
	Text say.Text // a sentence for the thread, e.g. "retrying in 10s (attempt 2 of 3)"
	// Enqueue puts the job on the queue now, or (with Due) when Due comes.
	Enqueue bool
	Due     time.Time
	// DeadLetter adds the job to the dead-letter list.
	DeadLetter bool
	// Audit, when set, is written to the audit log with the transition.
	Audit *AuditEntry
}

// ErrConflict says a transition was refused because the job had moved on.
var ErrConflict = errors.New("job is no longer in that state")

// Transition moves job id to c.To if it is in one of c.From, writing the
// record, the queue and the announcement in one step. It returns the state
// the job was in. A refused move returns ErrConflict and that state.
func (s *Store) Transition(ctx context.Context, id int64, c Change) (State, error) {
	return s.move(ctx, id, c, nil)
}

// runEnd is what a worker's run of a job gives back with its last
// transition: the delivery, acknowledged, and the lease of owner.
type runEnd struct {
	d     Delivery
	owner string
}

// move is Transition, and with end the end of a run too (rdb.Records.Finish).
func (s *Store) move(ctx context.Context, id int64, c Change, end *runEnd) (State, error) {
	from := make([]string, len(c.From))
	for i, st := range c.From {
		from[i] = string(st)
	}
	typ := c.Type
	if typ == "" {
		typ = "state"
	}
	set := c.Set
	if c.To.Final() && !set.has("finished") {
		set = set.Finished(s.now())
	}
	m := rdb.Move{
		From: from, To: string(c.To), Enqueue: c.Enqueue, Due: c.Due, Type: typ, Text: string(c.Text),
		DeadLetter: c.DeadLetter, Set: set.args(),
	}
	if a := c.Audit; a != nil {
		m.Audit = &rdb.AuditEntry{Who: a.Who, Action: a.Action, Env: a.Env, Detail: string(a.Detail), At: s.now()}
	}
	var res rdb.Moved
	retried := false
	err := s.retryWrite(ctx, func(attempt int) error {
		retried = attempt > 1
		var err error
		if end != nil {
			res, err = s.records.Finish(ctx, id, m, rdb.Delivery(end.d), end.owner)
		} else {
			res, err = s.records.Transition(ctx, id, m)
		}
		return err
	})
	if err != nil {
		return "", fmt.Errorf("move job #%d to %s: %w", id, c.To, err)
	}
	prev := res.Prev
	if prev == "" && !res.OK {
		return "", fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	if !res.OK && retried && prev == string(c.To) && len(c.From) == 1 {
		// An earlier try landed and only its answer was lost.
		return c.From[0], nil
	}
	if !res.OK {
		return State(prev), fmt.Errorf("move job #%d from %s to %s: %w", id, prev, c.To, ErrConflict)
	}
	return State(prev), nil
}

// Update writes fields of job id without changing its state. With a
// non-empty event type it also announces the change (e.g. "step").
func (s *Store) Update(ctx context.Context, id int64, eventType string, text say.Text, set Fields) error {
	if set.empty() {
		return fmt.Errorf("update job #%d: no field to write", id)
	}
	var ok bool
	err := s.retryWrite(ctx, func(int) error {
		var err error
		ok, err = s.records.Update(ctx, id, eventType, string(text), set.args())
		return err
	})
	if err != nil {
		return fmt.Errorf("update job #%d: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	return nil
}

// Announce adds an event about job id without changing it.
func (s *Store) Announce(ctx context.Context, id int64, eventType string, text say.Text) error {
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	err = s.retryWrite(ctx, func(int) error {
		return s.events.Announce(ctx, id, eventType, string(j.State), string(text))
	})
	if err != nil {
		return fmt.Errorf("announce job #%d: %w", id, err)
	}
	return nil
}

// Active returns the jobs that are not yet final, oldest first.
func (s *Store) Active(ctx context.Context) ([]*Job, error) {
	ids, err := s.records.Active(ctx)
	if err != nil {
		return nil, fmt.Errorf("list active jobs: %w", err)
	}
	return s.getAll(ctx, ids)
}

// ActiveBy counts the active jobs that user requested (the last request
// of each: a retry counts for whoever retried).
func (s *Store) ActiveBy(ctx context.Context, user string) (int, error) {
	active, err := s.Active(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range active {
		if j.Requester == user {
			n++
		}
	}
	return n, nil
}

// Recent returns up to n of the newest jobs, newest first.
func (s *Store) Recent(ctx context.Context, n int64) ([]*Job, error) {
	ids, err := s.records.Recent(ctx, n)
	if err != nil {
		return nil, fmt.Errorf("list recent jobs: %w", err)
	}
	return s.getAll(ctx, ids)
}

// Latest returns the newest job that user asked for.
func (s *Store) Latest(ctx context.Context, user string) (*Job, error) {
	id, ok, err := s.records.Latest(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("find latest job of %s: %w", user, err)
	}
	if !ok {
		return nil, fmt.Errorf("no jobs of yours yet: %w", ErrNotFound)
	}
	return s.Get(ctx, id)
}

// DeadLettered is how many jobs were ever dead-lettered (the list keeps
// only the newest).
func (s *Store) DeadLettered(ctx context.Context) (int64, error) {
	n, err := s.records.DeadTotal(ctx)
	if err != nil {
		return 0, fmt.Errorf("count dead letters: %w", err)
	}
	return n, nil
}

// DeadLetters returns the dead-lettered job numbers, newest first.
func (s *Store) DeadLetters(ctx context.Context) ([]int64, error) {
	ids, err := s.records.DeadLetters(ctx)
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	return ids, nil
}

func (s *Store) getAll(ctx context.Context, ids []int64) ([]*Job, error) {
	recs, err := s.records.GetAll(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	out := make([]*Job, 0, len(ids))
	for i, id := range ids {
		j, err := decodeJob(id, recs[i])
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// SetThread records that job id's message is at channel/ts: its thread, and
// the index by which reactions and buttons on that message find the job.
func (s *Store) SetThread(ctx context.Context, id int64, channel, ts string) error {
	ok, err := s.messages.Set(ctx, id, channel, ts)
	if err != nil {
		return fmt.Errorf("record thread of job #%d: %w", id, err)
	}
	if !ok {
		return fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	return nil
}

// JobByMessage finds the job whose message is at channel/ts.
func (s *Store) JobByMessage(ctx context.Context, channel, ts string) (int64, error) {
	id, ok, err := s.messages.Job(ctx, channel, ts)
	if err != nil {
		return 0, fmt.Errorf("find job of message %s/%s: %w", channel, ts, err)
	}
	if !ok {
		return 0, fmt.Errorf("no job message at %s/%s: %w", channel, ts, ErrNotFound)
	}
	return id, nil
}

// FirstSeen records a delivery id (a Slack trigger_id or event_id, a GitHub
// delivery) for ttl and reports whether this is the first time it was seen.
// The record lives in Redis, so it holds across restarts and processes.
func (s *Store) FirstSeen(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := s.seen.First(ctx, id, ttl)
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	return ok, nil
}

// Forget removes the record of delivery id, so that it counts as unseen
// again (its handling failed and should be done again).
func (s *Store) Forget(ctx context.Context, id string) error {
	if err := s.seen.Forget(ctx, id); err != nil {
		return fmt.Errorf("forget delivery %s: %w", id, err)
	}
	return nil
}
