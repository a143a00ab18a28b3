package rdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// EventsOut keeps the job events gantry publishes (package events) until
// every endpoint has them. Two parts:
//
// The fan-out turns each announcement on the events stream into one
// delivery per endpoint. One process at a time does it, holding the
// fan-out lease; it reads the stream after the cursor, in order, and one
// script both queues an event's deliveries and moves the cursor past it,
// so that each event is queued once, whichever process reads it and
// however often.
//
// Each endpoint has its own list of deliveries, delivered in order by
// whichever process takes the endpoint's lease first (as the GitHub
// Outbox): a slow or failing endpoint delays only its own list.
//
//	key                              type    holds                                              lives
//	{gantry}:events-out:fanout       string  the token of the process fanning out               the lease TTL
//	{gantry}:events-out:cursor       string  the id of the last event fanned out                for good (one id)
//	{gantry}:events-out:state:N      string  the last state of job N fanned out                 RETENTION
//	{gantry}:events-out:q:ENDPOINT   list    deliveries waiting for ENDPOINT, oldest first      until sent or dead (at most max_queue)
//	{gantry}:events-out:due          zset    endpoints with deliveries, by when to try next     while deliveries wait
//	{gantry}:events-out:lease:ENDPOINT string the process delivering to ENDPOINT                the lease TTL
//	{gantry}:events-out:dead         stream  deliveries given up on                             the newest ~1,000
type EventsOut struct {
	c    *Client
	base string // "{gantry}:events-out"
}

// NewEventsOut returns the events-out keys of namespace ns ("" means
// "gantry").
func NewEventsOut(c *Client, ns string) *EventsOut {
	return &EventsOut{c: c, base: NewKeys(ns).EventsOut()}
}

func (o *EventsOut) fanoutKey() string { return o.base + ":fanout" }
func (o *EventsOut) cursorKey() string { return o.base + ":cursor" }
func (o *EventsOut) stateKey(job int64) string {
	return o.base + ":state:" + strconv.FormatInt(job, 10)
}
func (o *EventsOut) queueKey(endpoint string) string { return o.base + ":q:" + endpoint }
func (o *EventsOut) dueKey() string                  { return o.base + ":due" }
func (o *EventsOut) leaseKey(endpoint string) string { return o.base + ":lease:" + endpoint }
func (o *EventsOut) deadKey() string                 { return o.base + ":dead" }

// eventsOutLeadScript takes or extends a lease for token.
//
//	KEYS  1 the lease
//	ARGV  1 token, 2 TTL (ms)
//	reply 1 when token holds the lease for TTL from now, 0 when another does
var eventsOutLeadScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if cur then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// eventsOutResignScript gives a lease up.
//
//	KEYS  1 the lease
//	ARGV  1 token
//	reply 1 when token held it (now gone), else 0
var eventsOutResignScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Lead takes the fan-out lease for token, or extends it; false when
// another process holds it.
func (o *EventsOut) Lead(ctx context.Context, token string, ttl time.Duration) (bool, error) {
	n, err := eventsOutLeadScript.Run(ctx, o.c.r, []string{o.fanoutKey()}, token, ttl.Milliseconds()).Int()
	return n == 1, err
}

// Resign gives the fan-out lease up if token holds it.
func (o *EventsOut) Resign(ctx context.Context, token string) error {
	return eventsOutResignScript.Run(ctx, o.c.r, []string{o.fanoutKey()}, token).Err()
}

// StartCursor sets the cursor to id unless there is one already, and
// returns the cursor: the fan-out starts after it.
func (o *EventsOut) StartCursor(ctx context.Context, id string) (string, error) {
	if err := o.c.r.SetNX(ctx, o.cursorKey(), id, 0).Err(); err != nil {
		return "", err
	}
	return o.c.r.Get(ctx, o.cursorKey()).Result()
}

// LastState is the last state of job fanned out, "" when none is known.
func (o *EventsOut) LastState(ctx context.Context, job int64) (string, error) {
	s, err := o.c.r.Get(ctx, o.stateKey(job)).Result()
	if IsNil(err) {
		return "", nil
	}
	return s, err
}

// EventDelivery is an event as one endpoint is to get it.
type EventDelivery struct {
	Endpoint string
	Item     []byte // nil: the endpoint does not take this event
}

// FanOutResult says what FanOut did.
type FanOutResult int

const (
	FannedOut   FanOutResult = iota // queued, and the cursor moved past the event
	AlreadyDone                     // the cursor was past the event already: nothing queued
	NotLeader                       // the token does not hold the fan-out lease: nothing queued
)

// eventsOutFanOutScript queues an event's deliveries and moves the cursor past it.
//
//	KEYS  1 fanout lease, 2 cursor, 3 due, 4 the job's state key,
//	      5… the queue of each endpoint, in ARGV's order
//	ARGV  1 token, 2 event id, 3 now (ms), 4 most deliveries one queue holds,
//	      5 the job's state ("": leave it), 6 how long the state is kept (ms),
//	      then a pair per endpoint: 7 name, 8 delivery ("": none), …
//	reply {-1} when token does not hold the lease, {0} when the cursor is at
//	      or past the event id, else {1, the names of the endpoints whose
//	      queue was full (their delivery dropped)…}
//
// A queue that was empty comes due at now.
var eventsOutFanOutScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms or '0'), tonumber(seq or '0')
end
local cm, cs = parts(redis.call('GET', KEYS[2]) or '0-0')
local em, es = parts(ARGV[2])
if em < cm or (em == cm and es <= cs) then return {0} end
local full = {1}
local n = 0
for i = 7, #ARGV, 2 do
  n = n + 1
  local item = ARGV[i + 1]
  if item ~= '' then
    local q = KEYS[4 + n]
    if redis.call('LLEN', q) >= tonumber(ARGV[4]) then
      table.insert(full, ARGV[i])
    elseif redis.call('RPUSH', q, item) == 1 then
      redis.call('ZADD', KEYS[3], 'NX', ARGV[3], ARGV[i])
    end
  end
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[4], ARGV[5], 'PX', ARGV[6]) end
redis.call('SET', KEYS[2], ARGV[2])
return full
`)

// FanOut queues the deliveries of event id (job's, now in state; "" for
// an event that changes no state) for each endpoint, unless the cursor is
// past it already, and moves the cursor past it, all at once. An endpoint
// whose queue holds max deliveries gets none: its name is in full.
func (o *EventsOut) FanOut(ctx context.Context, token, id string, job int64, state string, stateTTL time.Duration,
	ds []EventDelivery, now time.Time, max int64) (res FanOutResult, full []string, err error) {
	keys := []string{o.fanoutKey(), o.cursorKey(), o.dueKey(), o.stateKey(job)}
	args := []any{token, id, now.UnixMilli(), max, state, stateTTL.Milliseconds()}
	for _, d := range ds {
		keys = append(keys, o.queueKey(d.Endpoint))
		args = append(args, d.Endpoint, d.Item)
	}
	reply, err := eventsOutFanOutScript.Run(ctx, o.c.r, keys, args...).Slice()
	if err != nil {
		return 0, nil, err
	}
	switch reply[0].(int64) {
	case -1:
		return NotLeader, nil, nil
	case 0:
		return AlreadyDone, nil, nil
	}
	for _, v := range reply[1:] {
		full = append(full, fmt.Sprint(v))
	}
	return FannedOut, full, nil
}

// Due lists up to n endpoints whose first delivery may be tried at now.
func (o *EventsOut) Due(ctx context.Context, now time.Time, n int64) ([]string, error) {
	return o.c.r.ZRangeByScore(ctx, o.dueKey(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: n,
	}).Result()
}

// NextDue is when the next endpoint comes due; false when none waits.
func (o *EventsOut) NextDue(ctx context.Context) (time.Time, bool, error) {
	zs, err := o.c.r.ZRangeWithScores(ctx, o.dueKey(), 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return time.Time{}, false, err
	}
	return time.UnixMilli(int64(zs[0].Score)), true, nil
}

// eventsOutClaimScript takes a due endpoint's lease and returns its first deliveries.
//
//	KEYS  1 due, 2 the endpoint's queue, 3 the endpoint's lease
//	ARGV  1 endpoint, 2 now (ms), 3 lease (ms), 4 token, 5 most deliveries
//	reply the first deliveries (up to ARGV 5), or an empty list when the
//	      endpoint is not due, someone holds its lease, or its queue is
//	      empty (then it leaves the due set)
//
// While the lease lasts the endpoint is due again at its end, so that a
// holder that dies delays the endpoint by one lease only.
var eventsOutClaimScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return {} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {} end
local items = redis.call('LRANGE', KEYS[2], 0, tonumber(ARGV[5]) - 1)
if #items == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return {}
end
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return items
`)

// Claim takes endpoint's lease under token when it is due and returns up
// to n of its first deliveries; none when it is not due or someone holds
// it.
func (o *EventsOut) Claim(ctx context.Context, endpoint, token string, now time.Time, lease time.Duration, n int) ([][]byte, error) {
	items, err := eventsOutClaimScript.Run(ctx, o.c.r, []string{o.dueKey(), o.queueKey(endpoint), o.leaseKey(endpoint)},
		endpoint, now.UnixMilli(), lease.Milliseconds(), token, n).StringSlice()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(items))
	for i, s := range items {
		out[i] = []byte(s)
	}
	return out, nil
}

// eventsOutFinishScript records what became of the deliveries an endpoint's lease
// holder took, and gives the lease back.
//
//	KEYS  1 due, 2 the endpoint's queue, 3 the endpoint's lease, 4 dead
//	ARGV  1 endpoint, 2 token, 3 now (ms), 4 next try (ms), 5 how many
//	      deliveries were taken, 6 how many are kept (k), 7 the error given
//	      up on, then k deliveries to keep first (in order), then those to
//	      dead-letter
//	reply 1, or 0 when token does not hold the lease (nothing changed)
//
// The taken deliveries leave the queue; those kept go back at its head,
// and the endpoint is due at next; else it is due at now while deliveries
// wait, or leaves the due set.
var eventsOutFinishScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[3])
local taken, kept = tonumber(ARGV[5]), tonumber(ARGV[6])
if taken > 0 then redis.call('LTRIM', KEYS[2], taken, -1) end
for i = 7 + kept, 8, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
for i = 8 + kept, #ARGV do
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', 1000, '*', 'endpoint', ARGV[1], 'delivery', ARGV[i], 'error', ARGV[7])
end
if redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif kept > 0 then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
else
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
end
return 1
`)

// Finish records what became of the taken deliveries of endpoint, whose
// lease token holds, and gives the lease back: they leave the queue, but
// keep go back first, to be tried at next, and dead are dead-lettered
// with why. It returns false when the lease had been lost (the holder was
// too slow, and another process may have delivered them too).
func (o *EventsOut) Finish(ctx context.Context, endpoint, token string, now, next time.Time, taken int, keep, dead [][]byte, why string) (bool, error) {
	args := []any{endpoint, token, now.UnixMilli(), next.UnixMilli(), taken, len(keep), why}
	for _, it := range keep {
		args = append(args, it)
	}
	for _, it := range dead {
		args = append(args, it)
	}
	n, err := eventsOutFinishScript.Run(ctx, o.c.r, []string{o.dueKey(), o.queueKey(endpoint), o.leaseKey(endpoint), o.deadKey()}, args...).Int()
	return n == 1, err
}

// eventsOutReleaseScript gives an endpoint's lease back untouched.
//
//	KEYS  1 due, 2 the endpoint's lease
//	ARGV  1 endpoint, 2 token, 3 now (ms)
//	reply 1, or 0 when token does not hold the lease (nothing changed)
//
// The endpoint is due at now again.
var eventsOutReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// Release gives endpoint's lease back untouched, due at now.
func (o *EventsOut) Release(ctx context.Context, endpoint, token string, now time.Time) (bool, error) {
	n, err := eventsOutReleaseScript.Run(ctx, o.c.r, []string{o.dueKey(), o.leaseKey(endpoint)}, endpoint, token, now.UnixMilli()).Int()
	return n == 1, err
}

// Depth is how many deliveries wait for endpoint.
func (o *EventsOut) Depth(ctx context.Context, endpoint string) (int64, error) {
	return o.c.r.LLen(ctx, o.queueKey(endpoint)).Result()
}

// EventsOutDeadLetter is a delivery given up on.
type EventsOutDeadLetter struct {
	ID       string // the dead-letter stream's entry id
	Endpoint string
	Delivery string
	Error    string // why it was given up
}

// DeadLetters returns up to n of the deliveries given up on, newest first.
func (o *EventsOut) DeadLetters(ctx context.Context, n int64) ([]EventsOutDeadLetter, error) {
	msgs, err := o.c.r.XRevRangeN(ctx, o.deadKey(), "+", "-", n).Result()
	if err != nil {
		return nil, err
	}
	out := make([]EventsOutDeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := EventsOutDeadLetter{ID: m.ID}
		d.Endpoint, _ = m.Values["endpoint"].(string)
		d.Delivery, _ = m.Values["delivery"].(string)
		d.Error, _ = m.Values["error"].(string)
		out = append(out, d)
	}
	return out, nil
}
