package bot

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
)

// Leases are claims in Redis that one of several gantry processes holds
// for a while (the live log of a job): the holder renews its claim, and a
// claim whose holder died lapses after its time to live.
type Leases struct {
	rdb   redis.UniversalClient
	keys  jobs.Keys
	owner string
	ttl   time.Duration
}

// NewLeases returns the leases of owner (host/pid), kept beside the store's
// keys. ttl is how long a claim lasts without renewal; 0 is 30s.
func NewLeases(s *jobs.Store, owner string, ttl time.Duration) *Leases {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &Leases{rdb: s.Redis(), keys: s.Keys(), owner: owner, ttl: ttl}
}

// TTL is how long a claim lasts unless renewed.
func (l *Leases) TTL() time.Duration { return l.ttl }

func (l *Leases) key(name string) string { return l.keys.Seen("lease:" + name) }

// Acquire claims name; false when another owner holds it.
func (l *Leases) Acquire(ctx context.Context, name string) (bool, error) {
	ok, err := l.rdb.SetNX(ctx, l.key(name), l.owner, l.ttl).Result()
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", name, err)
	}
	if ok {
		return true, nil
	}
	return l.Renew(ctx, name) // already ours (a restarted follower)
}

var renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`)

// Renew extends a claim the owner holds; false when it is no longer ours.
func (l *Leases) Renew(ctx context.Context, name string) (bool, error) {
	n, err := renewScript.Run(ctx, l.rdb, []string{l.key(name)}, l.owner, l.ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew claim %s: %w", name, err)
	}
	return n == 1, nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// Release gives a claim up, if the owner still holds it.
func (l *Leases) Release(ctx context.Context, name string) error {
	if err := releaseScript.Run(ctx, l.rdb, []string{l.key(name)}, l.owner).Err(); err != nil {
		return fmt.Errorf("release claim %s: %w", name, err)
	}
	return nil
}
