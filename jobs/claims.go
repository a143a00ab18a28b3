package jobs

import (
	"context"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claims are named claims that one of several gantry processes holds for a
// while (the live log of a job, in Slack): the holder renews its claim,
// and a claim whose holder died lapses after its time to live. Beside a
// live log's claim they keep where the live log stands.
type Claims struct {
	rdb   redis.UniversalClient
	keys  rdb.Keys
	owner string
	ttl   time.Duration
}

// Claims returns the claims of owner (host/pid). ttl is how long a claim
// lasts without renewal; 0 is 30s.
func (s *Store) Claims(owner string, ttl time.Duration) *Claims {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Claims{rdb: s.rdb, keys: s.keys, owner: owner, ttl: ttl}
}

// TTL is how long a claim lasts unless renewed.
func (c *Claims) TTL() time.Duration { return c.ttl }

// Acquire claims name; false when another owner holds it.
func (c *Claims) Acquire(ctx context.Context, name string) (bool, error) {
	ok, err := c.rdb.SetNX(ctx, c.keys.Claim(name), c.owner, c.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", name, err)
	}
	if ok {
		return true, nil
	}
	return c.Renew(ctx, name) // already ours (a restarted follower)
}

// renewClaimScript extends a claim its owner holds.
//
//	KEYS[1] the claim
//	ARGV[1] the owner, ARGV[2] the TTL (ms)
//
// It returns 1 when the claim was the owner's and now lasts the TTL, else 0.
var renewClaimScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// Renew extends a claim the owner holds; false when it is no longer ours.
func (c *Claims) Renew(ctx context.Context, name string) (bool, error) {
	n, err := renewClaimScript.Run(ctx, c.rdb, []string{c.keys.Claim(name)}, c.owner, c.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew claim %s: %w", name, err)
	}
	return n == 1, nil
}

// releaseClaimScript gives up a claim its owner holds.
//
//	KEYS[1] the claim
//	ARGV[1] the owner
//
// It returns 1 when the claim was the owner's and is gone, else 0.
var releaseClaimScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Release gives a claim up, if the owner still holds it.
func (c *Claims) Release(ctx context.Context, name string) error {
	if err := releaseClaimScript.Run(ctx, c.rdb, []string{c.keys.Claim(name)}, c.owner).Err(); err != nil {
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

// liveLogKeep is how long a live log's state is kept after its last change.
const liveLogKeep = 7 * 24 * time.Hour

// LiveLog reads job's live-log state; the zero state when it has none.
func (c *Claims) LiveLog(ctx context.Context, job int64) (LiveLogState, error) {
	m, err := c.rdb.HGetAll(ctx, c.keys.LiveLog(job)).Result()
	if err != nil {
		return LiveLogState{}, fmt.Errorf("read live log state of job #%d: %w", job, err)
	}
	st := LiveLogState{TS: m["ts"], Ended: m["ended"] == "1"}
	st.Shown, _ = strconv.ParseInt(m["shown"], 10, 64)
	st.Lines, _ = strconv.ParseInt(m["lines"], 10, 64)
	return st, nil
}

// SaveLiveLog records job's live-log state.
func (c *Claims) SaveLiveLog(ctx context.Context, job int64, st LiveLogState) error {
	ended := "0"
	if st.Ended {
		ended = "1"
	}
	k := c.keys.LiveLog(job)
	_, err := c.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "ts", st.TS, "shown", st.Shown, "lines", st.Lines, "ended", ended)
		p.Expire(ctx, k, liveLogKeep)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record live log state of job #%d: %w", job, err)
	}
	return nil
}
