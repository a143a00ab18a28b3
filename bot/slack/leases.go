package slack

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
)

// Leases are claims in Redis that one of several gantry processes holds
// for a while (the live log of a job): the holder renews its claim, and a
// claim whose holder died lapses after its time to live. Beside each live
// log's claim they keep where the live log stands. The bot's keys live in
// the seen: namespace of jobs.Keys, and are built here:
//
//	{gantry}:seen:lease:NAME        string  the owner of a claim, with a TTL
//	{gantry}:seen:livelog:N         hash    ts, shown, lines, ended of job N's live log
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

// liveLogState is where a job's live log stands: its message, how far into
// the job's log (in bytes and lines) the message reaches, and whether it
// shows the job's end. It is kept beside the live log's lease, so that the
// next process to show the job's log goes on in the same message.
type liveLogState struct {
	TS    string
	Shown int64
	Lines int64
	Ended bool
}

// liveLogKeep is how long a live log's state is kept after its last change.
const liveLogKeep = 7 * 24 * time.Hour

func (l *Leases) liveLogKey(job int64) string {
	return l.keys.Seen("livelog:" + strconv.FormatInt(job, 10))
}

// liveLog reads job's live-log state; the zero state when it has none.
func (l *Leases) liveLog(ctx context.Context, job int64) (liveLogState, error) {
	m, err := l.rdb.HGetAll(ctx, l.liveLogKey(job)).Result()
	if err != nil {
		return liveLogState{}, fmt.Errorf("read live log state of job #%d: %w", job, err)
	}
	st := liveLogState{TS: m["ts"], Ended: m["ended"] == "1"}
	st.Shown, _ = strconv.ParseInt(m["shown"], 10, 64)
	st.Lines, _ = strconv.ParseInt(m["lines"], 10, 64)
	return st, nil
}

// saveLiveLog records job's live-log state.
func (l *Leases) saveLiveLog(ctx context.Context, job int64, st liveLogState) error {
	ended := "0"
	if st.Ended {
		ended = "1"
	}
	k := l.liveLogKey(job)
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, k, "ts", st.TS, "shown", st.Shown, "lines", st.Lines, "ended", ended)
		p.Expire(ctx, k, liveLogKeep)
		return nil
	})
	if err != nil {
		return fmt.Errorf("record live log state of job #%d: %w", job, err)
	}
	return nil
}
