package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// The queue is a Redis stream per class of work (deploys, typed jobs,
// webhook builds, scheduled jobs), read through one consumer group each
// by priority and weight, with a lease per job that makes sure two
// workers never run the same job at once (see internal/rdb/queue.go).

// Delivery is one job handed to one worker, from its class's stream.
type Delivery struct {
	Job    int64
	MsgID  string
	Stream string
}

// Queue hands queued jobs to workers.
type Queue struct {
	q   *rdb.Queue
	now func() time.Time
}

// NewQueue returns the queue that s feeds.
func NewQueue(s *Store) *Queue {
	return &Queue{q: rdb.NewQueue(s.c, s.keys, s.eventsMaxLen), now: s.now}
}

// Init creates the consumer group if it is missing.
func (q *Queue) Init(ctx context.Context) error {
	if err := q.q.Init(ctx); err != nil {
		return fmt.Errorf("create queue group: %w", err)
	}
	return nil
}

// Reclaim takes over up to count deliveries that have sat unacknowledged
// for longer than minIdle: their workers are gone.
func (q *Queue) Reclaim(ctx context.Context, consumer string, minIdle time.Duration, count int64) ([]Delivery, error) {
	ds, err := q.q.Reclaim(ctx, consumer, minIdle, count)
	if err != nil {
		return nil, fmt.Errorf("reclaim deliveries: %w", err)
	}
	return fromRDB(ds), nil
}

// Take waits up to block for up to count new deliveries.
func (q *Queue) Take(ctx context.Context, consumer string, count int64, block time.Duration) ([]Delivery, error) {
	ds, err := q.q.Take(ctx, consumer, count, block)
	if err != nil {
		return nil, fmt.Errorf("take deliveries: %w", err)
	}
	return fromRDB(ds), nil
}

func fromRDB(ds []rdb.Delivery) []Delivery {
	if ds == nil {
		return nil
	}
	out := make([]Delivery, len(ds))
	for i, d := range ds {
		out[i] = Delivery(d)
	}
	return out
}

func toRDB(ds []Delivery) []rdb.Delivery {
	out := make([]rdb.Delivery, len(ds))
	for i, d := range ds {
		out[i] = rdb.Delivery(d)
	}
	return out
}

// Touch resets the idle time of the worker's deliveries, so that they are
// not reclaimed while it lives.
func (q *Queue) Touch(ctx context.Context, consumer string, ds ...Delivery) error {
	if err := q.q.Touch(ctx, consumer, toRDB(ds)...); err != nil {
		return fmt.Errorf("touch deliveries: %w", err)
	}
	return nil
}

// Done acknowledges a delivery; Trim removes it from the stream later.
func (q *Queue) Done(ctx context.Context, d Delivery) error {
	if err := q.q.Done(ctx, rdb.Delivery(d)); err != nil {
		return fmt.Errorf("ack delivery of job #%d: %w", d.Job, err)
	}
	return nil
}

// Trim removes acknowledged entries from the queue stream.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	n, err := q.q.Trim(ctx)
	if err != nil {
		return 0, fmt.Errorf("trim queue: %w", err)
	}
	return n, nil
}

// Requeue hands a delivery back: a fresh delivery of the same job replaces
// it, to be taken at once by any worker, and owner's lease on the job goes
// in the same step, so the next worker can take it.
func (q *Queue) Requeue(ctx context.Context, d Delivery, owner string) error {
	if _, err := q.q.Requeue(ctx, rdb.Delivery(d), owner); err != nil {
		return fmt.Errorf("hand back job #%d: %w", d.Job, err)
	}
	return nil
}

// Promote moves jobs whose retry backoff has passed onto the queue.
func (q *Queue) Promote(ctx context.Context) (int, error) {
	n, err := q.q.Promote(ctx, q.now())
	if err != nil {
		return 0, fmt.Errorf("promote scheduled jobs: %w", err)
	}
	return n, nil
}

// Depth is how many deliveries wait for a worker, and how many are held.
func (q *Queue) Depth(ctx context.Context) (waiting, held int64, err error) {
	waiting, held, err = q.q.Depth(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("queue depth: %w", err)
	}
	return waiting, held, nil
}

// Claim is a delivery as Claim left it.
type Claim struct {
	Delivery
	// Job is the job's record when the worker now holds its lease; nil
	// when another worker holds it (the delivery stays pending), or when
	// there is nothing to run (the job is gone, final or awaiting
	// approval: the delivery was acknowledged).
	Job *Job
	// CancelBy is the cancel recorded on the job, if any.
	CancelBy *CancelError
	// Holder is the worker that holds the lease, when it is another.
	Holder string
	// Err says why a leased job's record could not be read; Job is nil.
	Err error
	// Started says the claim moved the job to running.
	Started bool

	leased time.Time // when the lease was asked for: it runs a TTL from then at least
}

// Claim leases the jobs of ds for owner, for ttl, and reads the records of
// those it now holds, in one round trip (see rdb.Queue.Claim). A lease
// held by another owner is left alone. With start, the jobs that are
// queued or waiting, with no cancel recorded, are moved to running in the
// same step: for a worker with no gates to pass first.
func (q *Queue) Claim(ctx context.Context, ds []Delivery, owner string, ttl time.Duration, start bool) ([]Claim, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	var startAt time.Time
	if start {
		startAt = q.now()
	}
	res, err := q.q.Claim(ctx, toRDB(ds), owner, ttl, startAt)
	if err != nil {
		return nil, fmt.Errorf("claim %d deliveries: %w", len(ds), err)
	}
	out := make([]Claim, len(ds))
	for i, d := range ds {
		out[i].Delivery = d
		switch r := res[i]; r.Status {
		case rdb.ClaimHeld:
			out[i].Holder = r.Holder
		case rdb.ClaimLeased, rdb.ClaimStarted:
			out[i].Started = r.Status == rdb.ClaimStarted
			out[i].Job, out[i].Err = decodeJob(d.Job, r.Record)
			if by, ok := r.Record["cancel_by"]; ok {
				out[i].CancelBy = &CancelError{By: by}
			}
		}
	}
	return out, nil
}

// Lease takes (or renews) the lease on job id for owner. It returns false
// while another owner holds it.
func (q *Queue) Lease(ctx context.Context, id int64, owner string, ttl time.Duration) (bool, error) {
	ok, err := q.q.Lease(ctx, id, owner, ttl)
	if err != nil {
		return false, fmt.Errorf("lease job #%d: %w", id, err)
	}
	return ok, nil
}

// Unlease gives up owner's lease on job id.
func (q *Queue) Unlease(ctx context.Context, id int64, owner string) error {
	if _, err := q.q.Unlease(ctx, id, owner); err != nil {
		return fmt.Errorf("release lease of job #%d: %w", id, err)
	}
	return nil
}

// LeaseHolder names the owner of job id's lease, "" when none.
func (q *Queue) LeaseHolder(ctx context.Context, id int64) (string, error) {
	return q.q.LeaseHolder(ctx, id)
}
