package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/say"
)

// Lock is someone's hold on an environment: while it stands, other people's
// deploys there wait.
type Lock struct {
	Env    string
	Holder string
	Why    say.Text // why it is held, as its holder said it
	Since  time.Time
}

// lockScript takes an environment's lock, or renews its holder's reason.
//
//	KEYS[1] the environment's lock, KEYS[2] the audit stream
//	ARGV[1] the holder, ARGV[2] why, ARGV[3] now (Unix ms), ARGV[4] the environment
//
// It returns {1, holder, why, since} when ARGV[1] holds the lock now (its
// since kept when it held it already), or {0, holder, why, since} of
// whoever else holds it, with nothing changed. A taken lock is audited.
var lockScript = redis.NewScript(`
local holder = redis.call('HGET', KEYS[1], 'holder')
if holder and holder ~= ARGV[1] then
  return {0, holder, redis.call('HGET', KEYS[1], 'why'), redis.call('HGET', KEYS[1], 'since')}
end
local since = ARGV[3]
if holder then since = redis.call('HGET', KEYS[1], 'since') end
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'why', ARGV[2], 'since', since)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', ARGV[1], 'action', 'lock', 'env', ARGV[4], 'job', '0', 'detail', ARGV[2], 'at', ARGV[3])
return {1, ARGV[1], ARGV[2], since}
`)

// LockEnv takes the lock on env for holder (taking it again updates the
// reason). It returns the lock that stands and whether holder has it.
func (s *Store) LockEnv(ctx context.Context, env, holder string, why say.Text) (Lock, bool, error) {
	res, err := lockScript.Run(ctx, s.rdb, []string{s.keys.EnvLock(env), s.keys.Audit()}, holder, why, s.now().UnixMilli(), env).Slice()
	if err != nil {
		return Lock{}, false, fmt.Errorf("lock %s: %w", env, err)
	}
	l := Lock{Env: env}
	l.Holder, _ = res[1].(string)
	held, _ := res[2].(string)
	l.Why = say.Text(held)
	since, _ := res[3].(string)
	l.Since = parseTime(since)
	return l, res[0].(int64) == 1, nil
}

// unlockScript frees an environment.
//
//	KEYS[1] the environment's lock, KEYS[2] the audit stream
//	ARGV[1] who frees it, ARGV[2] "1" to free another's lock (an admin),
//	ARGV[3] the environment, ARGV[4] now (Unix ms)
//
// It returns {1, holder} when the lock was freed (audited), {0, ""} when
// there was none, and {-1, holder} when someone else holds it and ARGV[2]
// is not "1".
var unlockScript = redis.NewScript(`
local holder = redis.call('HGET', KEYS[1], 'holder')
if not holder then return {0, ''} end
if holder ~= ARGV[1] and ARGV[2] ~= '1' then return {-1, holder} end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', ARGV[1], 'action', 'unlock', 'env', ARGV[3], 'job', '0', 'detail', 'held by ' .. holder, 'at', ARGV[4])
return {1, holder}
`)

// ErrNotHolder is returned when someone who does not hold a lock, and is
// not an admin, tries to unlock it.
var ErrNotHolder = errors.New("lock is held by someone else")

// UnlockEnv frees env. Only its holder may, or an admin (force). It returns
// who held it; "" when it was not locked.
func (s *Store) UnlockEnv(ctx context.Context, env, by string, force bool) (string, error) {
	f := "0"
	if force {
		f = "1"
	}
	res, err := unlockScript.Run(ctx, s.rdb, []string{s.keys.EnvLock(env), s.keys.Audit()}, by, f, env, s.now().UnixMilli()).Slice()
	if err != nil {
		return "", fmt.Errorf("unlock %s: %w", env, err)
	}
	holder, _ := res[1].(string)
	if res[0].(int64) == -1 {
		return holder, ErrNotHolder
	}
	return holder, nil
}

// EnvLock returns the lock on env, or nil.
func (s *Store) EnvLock(ctx context.Context, env string) (*Lock, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.EnvLock(env)).Result()
	if err != nil {
		return nil, fmt.Errorf("read lock of %s: %w", env, err)
	}
	if m["holder"] == "" {
		return nil, nil
	}
	return &Lock{Env: env, Holder: m["holder"], Why: say.Text(m["why"]), Since: parseTime(m["since"])}, nil
}

// RecentDeploys returns up to n of the newest deploy jobs to env.
func (s *Store) RecentDeploys(ctx context.Context, env string, n int64) ([]*Job, error) {
	ids, err := s.rdb.LRange(ctx, s.keys.Deploys(env), 0, n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list deploys to %s: %w", env, err)
	}
	return s.getAll(ctx, ids)
}

// LastSucceededDeploy returns the newest deploy to env that succeeded, or nil.
func (s *Store) LastSucceededDeploy(ctx context.Context, env string) (*Job, error) {
	js, err := s.RecentDeploys(ctx, env, 100)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.State == Succeeded {
			return j, nil
		}
	}
	return nil, nil
}

// AuditEntry is one decision someone made.
type AuditEntry struct {
	At     time.Time
	Who    string
	Action string // request, approve, reject, expire, lock, unlock, release
	Env    string
	Job    int64
	Detail say.Text
}

// Audit records a decision that is not a job transition (a forced pool
// release, a deploy request).
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: s.keys.Audit(), MaxLen: 100000, Approx: true,
		Values: []any{"who", e.Who, "action", e.Action, "env", e.Env, "job", e.Job, "detail", e.Detail, "at", e.At.UnixMilli()},
	}).Err()
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// AuditLog returns up to n of the newest entries, for env only when it is
// not "", newest first.
func (s *Store) AuditLog(ctx context.Context, env string, n int) ([]AuditEntry, error) {
	var out []AuditEntry
	last := "+"
	for len(out) < n {
		msgs, err := s.rdb.XRevRangeN(ctx, s.keys.Audit(), last, "-", 500).Result()
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		for _, m := range msgs {
			e := AuditEntry{}
			e.Who, _ = m.Values["who"].(string)
			e.Action, _ = m.Values["action"].(string)
			e.Env, _ = m.Values["env"].(string)
			detail, _ := m.Values["detail"].(string)
			e.Detail = say.Text(detail)
			js, _ := m.Values["job"].(string)
			e.Job, _ = strconv.ParseInt(js, 10, 64)
			at, _ := m.Values["at"].(string)
			e.At = parseTime(at)
			if env == "" || e.Env == env {
				out = append(out, e)
				if len(out) == n {
					break
				}
			}
		}
		if len(msgs) < 500 {
			break
		}
		last = "(" + msgs[len(msgs)-1].ID
	}
	return out, nil
}
