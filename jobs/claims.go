package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Claims are named claims that one of several gantry processes holds for a
// while (the live log of a job, in Slack): the holder renews its claim,
// and a claim whose holder died lapses after its time to live. Beside a
// live log's claim they keep where the live log stands.
type Claims struct {
	c   *rdb.Claims
	ttl time.Duration
}

// Claims returns the claims of owner (host/pid). ttl is how long a claim
// lasts without renewal; 0 is 30s.
func (s *Store) Claims(owner string, ttl time.Duration) *Claims {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Claims{c: rdb.NewClaims(s.c, s.keys, owner, ttl), ttl: ttl}
}

// TTL is how long a claim lasts unless renewed.
func (c *Claims) TTL() time.Duration { return c.ttl }

// Acquire claims name; false when another owner holds it.
func (c *Claims) Acquire(ctx context.Context, name string) (bool, error) {
	ok, err := c.c.Acquire(ctx, name)
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", name, err)
	}
	return ok, nil
}

// Renew extends a claim the owner holds; false when it is no longer ours.
func (c *Claims) Renew(ctx context.Context, name string) (bool, error) {
	ok, err := c.c.Renew(ctx, name)
	if err != nil {
		return false, fmt.Errorf("renew claim %s: %w", name, err)
	}
	return ok, nil
}

// Release gives a claim up, if the owner still holds it.
func (c *Claims) Release(ctx context.Context, name string) error {
	if _, err := c.c.Release(ctx, name); err != nil {
		return fmt.Errorf("release claim %s: %w", name, err)
	}
	return nil
}

// LiveLogState is where a job's live log stands: its message, how far into
// the job's log (in bytes and lines) the message reaches, and whether it
// shows the job's end. It is kept beside the live log's claim, so that the
// next process to show the job's log goes on in the same message.
type LiveLogState struct {
	TS    string
	Shown int64
	Lines int64
	Ended bool
}

// LiveLog reads job's live-log state; the zero state when it has none.
func (c *Claims) LiveLog(ctx context.Context, job int64) (LiveLogState, error) {
	st, err := c.c.LiveLog(ctx, job)
	if err != nil {
		return LiveLogState{}, fmt.Errorf("read live log state of job #%d: %w", job, err)
	}
	return LiveLogState(st), nil
}

// SaveLiveLog records job's live-log state.
func (c *Claims) SaveLiveLog(ctx context.Context, job int64, st LiveLogState) error {
	if err := c.c.SaveLiveLog(ctx, job, rdb.LiveLog(st)); err != nil {
		return fmt.Errorf("record live log state of job #%d: %w", job, err)
	}
	return nil
}
