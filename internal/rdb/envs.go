package rdb

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Envs keeps the locks on environments (who holds one, since when, why,
// until when) and the list of each environment's newest deploys.
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
	// Expires is when the lock lapses by itself; zero for a lock taken
	// before locks expired, which stands until it is unlocked.
	Expires time.Time
	// RemindAt is when its holder is told that it is about to lapse.
	RemindAt time.Time
	Channel  string // where it was taken: where the reminder and the release are said
	Thread   string // the thread it was taken in, if any
}

// NewLock is a lock to take.
type NewLock struct {
	Env, Holder, Why string
	Now              time.Time
	Expires          time.Time
	RemindAt         time.Time
	Channel, Thread  string
}

// lockFields reads the lock hash in one order for every script.
const lockFieldsLua = `
local function lockOf(key)
  local f = redis.call('HMGET', key, 'holder', 'why', 'since', 'expires', 'remind_at', 'channel', 'thread')
  return f
end
local function lapsed(f, now)
  return f[4] and f[4] ~= '' and tonumber(f[4]) <= now
end
local function reply(code, f)
  return {code, f[1] or '', f[2] or '', f[3] or '', f[4] or '', f[5] or '', f[6] or '', f[7] or ''}
end
`

// lockScript takes an environment's lock, renews its holder's, or takes
// over one that has lapsed.
//
//	KEYS[1] the environment's lock, KEYS[2] the audit stream, KEYS[3] the
//	set of environment names
//	ARGV[1] the holder, ARGV[2] why, ARGV[3] now (Unix ms), ARGV[4] the
//	environment, ARGV[5] when it lapses (Unix ms), ARGV[6] when to remind
//	(Unix ms), ARGV[7] the channel, ARGV[8] the thread
//
// It returns {1, holder, why, since, expires, remind_at, channel, thread}
// when ARGV[1] holds the lock now (its since kept when it held it already,
// its expiry and reminder set anew), or {0, …} of whoever else holds a lock
// that has not lapsed, with nothing changed. A lapsed lock of another is
// audited as expired and replaced. A taken lock is audited.
var lockScript = redis.NewScript(lockFieldsLua + `
local now = tonumber(ARGV[3])
local f = lockOf(KEYS[1])
local holder = f[1]
local live = holder and not lapsed(f, now)
if live and holder ~= ARGV[1] then return reply(0, f) end
if holder and not live then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', 'gantry', 'action', 'lock-expire', 'env', ARGV[4], 'job', '0', 'detail', 'held by ' .. holder, 'at', ARGV[3])
end
local since = ARGV[3]
if live then since = f[3] end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'holder', ARGV[1], 'why', ARGV[2], 'since', since, 'expires', ARGV[5], 'remind_at', ARGV[6], 'channel', ARGV[7], 'thread', ARGV[8])
redis.call('SADD', KEYS[3], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', ARGV[1], 'action', 'lock', 'env', ARGV[4], 'job', '0', 'detail', ARGV[2], 'at', ARGV[3])
return {1, ARGV[1], ARGV[2], since, ARGV[5], ARGV[6], ARGV[7], ARGV[8]}
`)

// Lock takes the lock on env for its holder (taking it again updates the
// reason and the expiry); it returns the lock that stands and whether the
// holder has it.
func (e *Envs) Lock(ctx context.Context, l NewLock) (Lock, bool, error) {
	res, err := lockScript.Run(ctx, e.r, []string{e.k.EnvLock(l.Env), e.k.Audit(), e.k.EnvNames()},
		l.Holder, l.Why, l.Now.UnixMilli(), l.Env, l.Expires.UnixMilli(), l.RemindAt.UnixMilli(), l.Channel, l.Thread).Slice()
	if err != nil {
		return Lock{}, false, err
	}
	code, lock := decodeLock(res)
	return lock, code == 1, nil
}

// decodeLock reads a script's {code, holder, why, since, expires,
// remind_at, channel, thread}.
func decodeLock(res []any) (int64, Lock) {
	s := func(i int) string {
		if i >= len(res) {
			return ""
		}
		v, _ := res[i].(string)
		return v
	}
	code, _ := res[0].(int64)
	return code, Lock{Holder: s(1), Why: s(2), Since: msTime(s(3)), Expires: msTime(s(4)), RemindAt: msTime(s(5)), Channel: s(6), Thread: s(7)}
}

// UnlockResult is what an unlock did.
type UnlockResult struct {
	Holder  string // who held the lock; "" when no lock stood
	Freed   bool   // the lock was freed (by its holder, or forced)
	Refused bool   // someone else holds it and force was not given: nothing changed
	Lapsed  bool   // the lock had lapsed: it was removed and audited as expired
}

// unlockScript frees an environment.
//
//	KEYS[1] the environment's lock, KEYS[2] the audit stream
//	ARGV[1] who frees it, ARGV[2] "1" to free another's lock (an admin),
//	ARGV[3] the environment, ARGV[4] now (Unix ms)
//
// It returns {1, holder} when the lock was freed (audited as "unlock", or
// "force-unlock" when it was another's), {0, ""} when there was none,
// {-1, holder} when someone else holds it and ARGV[2] is not "1", and
// {2, holder} when the lock had lapsed (removed, audited as expired).
var unlockScript = redis.NewScript(lockFieldsLua + `
local now = tonumber(ARGV[4])
local f = lockOf(KEYS[1])
local holder = f[1]
if not holder then return {0, ''} end
if lapsed(f, now) then
  redis.call('DEL', KEYS[1])
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', 'gantry', 'action', 'lock-expire', 'env', ARGV[3], 'job', '0', 'detail', 'held by ' .. holder, 'at', ARGV[4])
  return {2, holder}
end
if holder ~= ARGV[1] and ARGV[2] ~= '1' then return {-1, holder} end
local action = 'unlock'
if holder ~= ARGV[1] then action = 'force-unlock' end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', ARGV[1], 'action', action, 'env', ARGV[3], 'job', '0', 'detail', 'held by ' .. holder, 'at', ARGV[4])
return {1, holder}
`)

// Unlock frees env on behalf of by at now; force frees another's lock.
func (e *Envs) Unlock(ctx context.Context, env, by string, force bool, now time.Time) (UnlockResult, error) {
	f := "0"
	if force {
		f = "1"
	}
	res, err := unlockScript.Run(ctx, e.r, []string{e.k.EnvLock(env), e.k.Audit()}, by, f, env, now.UnixMilli()).Slice()
	if err != nil {
		return UnlockResult{}, err
	}
	holder, _ := res[1].(string)
	code, _ := res[0].(int64)
	return UnlockResult{Holder: holder, Freed: code == 1, Refused: code == -1, Lapsed: code == 2}, nil
}

// expireLockScript removes an environment's lock once it has lapsed, and
// only then: however many processes sweep, one of them removes it.
//
//	KEYS[1] the environment's lock, KEYS[2] the audit stream
//	ARGV[1] now (Unix ms), ARGV[2] the environment
//
// It returns {1, holder, why, since, expires, remind_at, channel, thread}
// of the lock it removed (audited as "lock-expire" by gantry), or {0, …}
// with nothing changed when there is no lock or it has not lapsed.
var expireLockScript = redis.NewScript(lockFieldsLua + `
local f = lockOf(KEYS[1])
if not f[1] or not lapsed(f, tonumber(ARGV[1])) then return reply(0, f) end
redis.call('DEL', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '100000', '*', 'who', 'gantry', 'action', 'lock-expire', 'env', ARGV[2], 'job', '0', 'detail', 'held by ' .. f[1], 'at', ARGV[1])
return reply(1, f)
`)

// Expire removes env's lock if it has lapsed at now; it returns the lock
// removed and true, once, to one caller.
func (e *Envs) Expire(ctx context.Context, env string, now time.Time) (Lock, bool, error) {
	res, err := expireLockScript.Run(ctx, e.r, []string{e.k.EnvLock(env), e.k.Audit()}, now.UnixMilli(), env).Slice()
	if err != nil {
		return Lock{}, false, err
	}
	code, l := decodeLock(res)
	return l, code == 1, nil
}

// remindScript marks the lock's reminder as due and said, once.
//
//	KEYS[1] the environment's lock
//	ARGV[1] now (Unix ms)
//
// It returns {1, holder, why, since, expires, remind_at, channel, thread}
// when the reminder is due (remind_at reached, the lock not lapsed, not
// reminded yet) and marks it reminded; else {0, …} with nothing changed.
// Taking the lock again sets a new remind_at and clears the mark.
var remindScript = redis.NewScript(lockFieldsLua + `
local now = tonumber(ARGV[1])
local f = lockOf(KEYS[1])
if not f[1] or not f[5] or f[5] == '' or tonumber(f[5]) > now or lapsed(f, now) then return reply(0, f) end
if redis.call('HSETNX', KEYS[1], 'reminded', ARGV[1]) == 0 then return reply(0, f) end
return reply(1, f)
`)

// Remind reports whether env's lock is due its reminder at now, once
// across all callers; it returns the lock.
func (e *Envs) Remind(ctx context.Context, env string, now time.Time) (Lock, bool, error) {
	res, err := remindScript.Run(ctx, e.r, []string{e.k.EnvLock(env)}, now.UnixMilli()).Slice()
	if err != nil {
		return Lock{}, false, err
	}
	code, l := decodeLock(res)
	return l, code == 1, nil
}

// LockOf reads the lock on env as it is kept (lapsed or not); Holder ""
// when there is none.
func (e *Envs) LockOf(ctx context.Context, env string) (Lock, error) {
	m, err := e.r.HGetAll(ctx, e.k.EnvLock(env)).Result()
	if err != nil {
		return Lock{}, err
	}
	return Lock{Holder: m["holder"], Why: m["why"], Since: msTime(m["since"]), Expires: msTime(m["expires"]),
		RemindAt: msTime(m["remind_at"]), Channel: m["channel"], Thread: m["thread"]}, nil
}

// Names is every environment that has had a deploy or a lock.
func (e *Envs) Names(ctx context.Context) ([]string, error) {
	return e.r.SMembers(ctx, e.k.EnvNames()).Result()
}

// Deploys is the numbers of up to n of the newest deploy jobs to env.
func (e *Envs) Deploys(ctx context.Context, env string, n int64) ([]int64, error) {
	ids, err := e.r.LRange(ctx, e.k.Deploys(env), 0, n-1).Result()
	return ints(ids), err
}

// msTime reads a time kept as Unix milliseconds; zero when s is not one
// (or is 0).
func msTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
