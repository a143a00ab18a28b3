package rdb

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Envs keeps the locks on environments (who holds one, since when, why)
// and the list of each environment's newest deploys.
type Envs struct {
	r redis.UniversalClient
	k Keys
}

// NewEnvs returns the environments of namespace k.
func NewEnvs(c *Client, k Keys) *Envs { return &Envs{r: c.r, k: k} }

// Lock is the lock on an environment as it is kept; Holder "" is none.
type Lock struct {
	Holder string
	Why    string
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

// Lock takes the lock on env for holder at now (taking it again updates
// the reason); it returns the lock that stands and whether holder has it.
func (e *Envs) Lock(ctx context.Context, env, holder, why string, now time.Time) (Lock, bool, error) {
	res, err := lockScript.Run(ctx, e.r, []string{e.k.EnvLock(env), e.k.Audit()}, holder, why, now.UnixMilli(), env).Slice()
	if err != nil {
		return Lock{}, false, err
	}
	var l Lock
	l.Holder, _ = res[1].(string)
	l.Why, _ = res[2].(string)
	since, _ := res[3].(string)
	l.Since = msTime(since)
	ok, _ := res[0].(int64)
	return l, ok == 1, nil
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

// Unlock frees env on behalf of by at now; force frees another's lock.
// It returns who held it ("" when no one did) and false when someone else
// holds it and force is not set (nothing changed).
func (e *Envs) Unlock(ctx context.Context, env, by string, force bool, now time.Time) (string, bool, error) {
	f := "0"
	if force {
		f = "1"
	}
	res, err := unlockScript.Run(ctx, e.r, []string{e.k.EnvLock(env), e.k.Audit()}, by, f, env, now.UnixMilli()).Slice()
	if err != nil {
		return "", false, err
	}
	holder, _ := res[1].(string)
	code, _ := res[0].(int64)
	return holder, code != -1, nil
}

// LockOf reads the lock on env; Holder "" when there is none.
func (e *Envs) LockOf(ctx context.Context, env string) (Lock, error) {
	m, err := e.r.HGetAll(ctx, e.k.EnvLock(env)).Result()
	if err != nil {
		return Lock{}, err
	}
	return Lock{Holder: m["holder"], Why: m["why"], Since: msTime(m["since"])}, nil
}

// Deploys is the numbers of up to n of the newest deploy jobs to env.
func (e *Envs) Deploys(ctx context.Context, env string, n int64) ([]int64, error) {
	ids, err := e.r.LRange(ctx, e.k.Deploys(env), 0, n-1).Result()
	return ints(ids), err
}

// msTime reads a time kept as Unix milliseconds; zero when s is not one.
func msTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
