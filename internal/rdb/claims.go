package rdb

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Claims are named claims that one of several processes holds for a while
// (the live log of a job, in Slack): the owner renews its claim, and a
// claim whose owner died lapses after its TTL. Beside a live log's claim
// they keep where the live log stands.
type Claims struct {
	r     redis.UniversalClient
	k     Keys
	owner string
	ttl   time.Duration
}

// NewClaims returns the claims of owner in namespace k, each lasting ttl
// unless renewed.
func NewClaims(c *Client, k Keys, owner string, ttl time.Duration) *Claims {
	return &Claims{r: c.r, k: k, owner: owner, ttl: ttl}
}

// Acquire claims name; false when another owner holds it. A claim the
// owner holds already is renewed.
func (c *Claims) Acquire(ctx context.Context, name string) (bool, error) {
	ok, err := c.r.SetNX(ctx, c.k.Claim(name), c.owner, c.ttl).Result()
	if err != nil || ok {
		return ok, err
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

// Renew extends a claim the owner holds; false when it is not the owner's.
func (c *Claims) Renew(ctx context.Context, name string) (bool, error) {
	n, err := renewClaimScript.Run(ctx, c.r, []string{c.k.Claim(name)}, c.owner, c.ttl.Milliseconds()).Int()
	return n == 1, err
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

// Release gives a claim up, if the owner holds it; it reports whether
// it did.
func (c *Claims) Release(ctx context.Context, name string) (bool, error) {
	n, err := releaseClaimScript.Run(ctx, c.r, []string{c.k.Claim(name)}, c.owner).Int()
	return n == 1, err
}

// LiveLog is where a job's live log stands: its message, how far into the
// job's log (in bytes and lines) the message reaches, and whether it shows
// the job's end.
type LiveLog struct {
	TS    string
	Shown int64
	Lines int64
	Ended bool
}

// liveLogKeep is how long a live log's state is kept after its last change.
const liveLogKeep = 7 * 24 * time.Hour

// LiveLog reads job's live-log state; the zero state when it has none.
func (c *Claims) LiveLog(ctx context.Context, job int64) (LiveLog, error) {
	m, err := c.r.HGetAll(ctx, c.k.LiveLog(job)).Result()
	if err != nil {
		return LiveLog{}, err
	}
	st := LiveLog{TS: m["ts"], Ended: m["ended"] == "1"}
	st.Shown, _ = strconv.ParseInt(m["shown"], 10, 64)
	st.Lines, _ = strconv.ParseInt(m["lines"], 10, 64)
	return st, nil
}

// SaveLiveLog records job's live-log state, kept for 7 days after its
// last change.
func (c *Claims) SaveLiveLog(ctx context.Context, job int64, st LiveLog) error {
	ended := "0"
	if st.Ended {
		ended = "1"
	}
	k := c.k.LiveLog(job)
	_, err := c.r.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "ts", st.TS, "shown", st.Shown, "lines", st.Lines, "ended", ended)
		p.Expire(ctx, k, liveLogKeep)
		return nil
	})
	return err
}
