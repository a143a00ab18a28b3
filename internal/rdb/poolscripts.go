package rdb

import "github.com/redis/go-redis/v9"

// Every script works on one pool and gets the same arguments:
//
//	KEYS  1 exp, 2 owner, 3 held, 4 line, 5 place, 6 joined, 7 seq (see poolKeys.pool),
//	      8 the holder's record (only the scripts that take a holder)
//	ARGV  1 now (ms), 2 ttl (ms), 3 wake channel, 4 pool name,
//	      5 subject (a holder, or a member for force), 6 mode or flag,
//	      7 how long the holder record lives (ms), 8… the pool's members in
//	      the order of the server config
//
// The prelude defines what they share: sweeping expired leases and places,
// and handing free members to the head of the line.
const poolPrelude = `
local kExp, kOwner, kHeld, kLine, kPlace, kJoined = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local now = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
local chan = ARGV[3]

-- owner splits an owner value "SINCE HOLDER" into holder, since.
local function owner(v)
  local sp = string.find(v, ' ', 1, true)
  return string.sub(v, sp + 1), string.sub(v, 1, sp - 1)
end

local function dropPlace(h)
  redis.call('ZREM', kLine, h)
  redis.call('ZREM', kPlace, h)
  redis.call('HDEL', kJoined, h)
end

local function freeMember(m)
  local v = redis.call('HGET', kOwner, m)
  if v then
    local h = owner(v)
    if redis.call('HGET', kHeld, h) == m then redis.call('HDEL', kHeld, h) end
  end
  redis.call('HDEL', kOwner, m)
  redis.call('ZREM', kExp, m)
end

local function give(m, h)
  redis.call('ZADD', kExp, now + ttl, m)
  redis.call('HSET', kOwner, m, ARGV[1] .. ' ' .. h)
  redis.call('HSET', kHeld, h, m)
end

local function firstFree()
  for i = 8, #ARGV do
    if not redis.call('ZSCORE', kExp, ARGV[i]) then return ARGV[i] end
  end
  return nil
end

-- sweep drops expired places and leases; it reports whether the line changed.
local function sweep()
  local changed = false
  for _, h in ipairs(redis.call('ZRANGEBYSCORE', kPlace, '-inf', now)) do
    dropPlace(h)
    changed = true
  end
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', kExp, '-inf', now)) do
    freeMember(m)
  end
  return changed
end

-- grant hands free members to the head of the line, one each, and tells them.
local function grant()
  local any = false
  while true do
    local head = redis.call('ZRANGE', kLine, 0, 0)[1]
    if not head then return any end
    local m = firstFree()
    if not m then return any end
    dropPlace(head)
    give(m, head)
    redis.call('PUBLISH', chan, head)
    any = true
  end
end

local function settle(changed)
  if sweep() then changed = true end
  if not grant() and changed then redis.call('PUBLISH', chan, '') end
end
`

// poolTakeScript gives the holder (ARGV 5) its lease on the pool if it has one,
// else a free member if no one waits, else (mode "wait") a place in line.
// Replies {2, member, since} for a lease the holder already knew of,
// {1, member, since} for one taken now or handed to it while it waited,
// {0} (mode "try") or {0, position, earliest lease expiry or "0"}.
var poolTakeScript = redis.NewScript(poolPrelude + `
local kSeq, kRec = KEYS[7], KEYS[8]
local pool, holder, mode, recttl = ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
settle(false)
local function record(m)
  redis.call('HSET', kRec, pool, '=' .. m)
  redis.call('PEXPIRE', kRec, recttl)
end
local m = redis.call('HGET', kHeld, holder)
if m then
  redis.call('ZADD', kExp, 'XX', now + ttl, m)
  local _, since = owner(redis.call('HGET', kOwner, m))
  local code = 1
  if redis.call('HGET', kRec, pool) == '=' .. m then code = 2 end
  record(m)
  return {code, m, since}
end
local queued = redis.call('ZSCORE', kLine, holder)
if not queued and redis.call('ZCARD', kLine) == 0 then
  local f = firstFree()
  if f then
    give(f, holder)
    record(f)
    return {1, f, ARGV[1]}
  end
end
if mode ~= 'wait' then return {0} end
if not queued then
  redis.call('ZADD', kLine, redis.call('INCR', kSeq), holder)
  redis.call('HSET', kJoined, holder, ARGV[1])
end
redis.call('ZADD', kPlace, now + ttl, holder)
local soonest = redis.call('ZRANGE', kExp, 0, 0, 'WITHSCORES')[2] or '0'
return {0, redis.call('ZRANK', kLine, holder) + 1, soonest}
`)

// poolLeaveScript takes the holder out of the pool's line and, with flag "1",
// gives back its lease too. Replies 1 if a lease was given back.
var poolLeaveScript = redis.NewScript(poolPrelude + `
local kRec = KEYS[8]
local pool, holder, giveBack = ARGV[4], ARGV[5], ARGV[6] == '1'
local changed = false
if redis.call('ZSCORE', kLine, holder) then
  dropPlace(holder)
  changed = true
end
local freed = 0
if giveBack then
  local m = redis.call('HGET', kHeld, holder)
  if m then
    freeMember(m)
    freed = 1
  end
  redis.call('HDEL', kRec, pool)
end
settle(changed)
return freed
`)

// poolRenewScript extends the holder's lease and place in the pool. Replies 0 if
// the holder lost a lease it was told of (expired, or freed by force).
var poolRenewScript = redis.NewScript(poolPrelude + `
local kRec = KEYS[8]
local pool, holder, recttl = ARGV[4], ARGV[5], tonumber(ARGV[7])
settle(false)
local m = redis.call('HGET', kHeld, holder)
if m then redis.call('ZADD', kExp, 'XX', now + ttl, m) end
if redis.call('ZSCORE', kLine, holder) then redis.call('ZADD', kPlace, 'XX', now + ttl, holder) end
local r = redis.call('HGET', kRec, pool)
if not r then return 1 end
redis.call('PEXPIRE', kRec, recttl)
if string.sub(r, 1, 1) == '!' then return 0 end
if m and r == '=' .. m then return 1 end
redis.call('HSET', kRec, pool, '!' .. string.sub(r, 2))
return 0
`)

// poolForceScript frees the member ARGV 5 whoever holds it. Replies
// {1, holder, since} or {0} if it was free.
var poolForceScript = redis.NewScript(poolPrelude + `
local m = ARGV[5]
settle(false)
local v = redis.call('HGET', kOwner, m)
if not v then return {0} end
local h, since = owner(v)
freeMember(m)
settle(false)
return {1, h, since}
`)

// poolViewScript settles the pool and replies {owner hash as a flat list,
// holders in line in order, when each joined}.
var poolViewScript = redis.NewScript(poolPrelude + `
settle(false)
local line = redis.call('ZRANGE', kLine, 0, -1)
local joined = {}
for i, h in ipairs(line) do joined[i] = redis.call('HGET', kJoined, h) or '0' end
return {redis.call('HGETALL', kOwner), line, joined}
`)
