package rdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The queue is a Redis stream read through one consumer group. A delivery
// stays pending until its worker acknowledges it; the worker's heartbeat
// keeps it fresh, and a delivery left idle longer than the lease (its
// worker died) is claimed by another worker. A per-job lease key makes sure
// two workers never run the same job at once, whatever the stream says.
// Acknowledged entries are not deleted one by one: Trim, which workers run
// a few times a second, cuts the stream up to the oldest entry still
// pending or not yet delivered.

// workerGroup is the queue's consumer group.
const workerGroup = "workers"

// Delivery is one queue entry handed to one worker: a job number, the
// entry's stream id and the stream it is on (its class's, see QueueOf;
// "" is the typed class's, Keys.Queue).
type Delivery struct {
	Job    int64
	MsgID  string
	Stream string
}

// stream is the stream d is on.
func (q *Queue) stream(d Delivery) string {
	if d.Stream == "" {
		return q.k.Queue()
	}
	return d.Stream
}

// Classes are the classes of work, in the order of priority: deploys
// (and rollbacks), jobs people typed, builds webhooks started, scheduled
// jobs. Each has a stream of its own (Keys.QueueOf).
var Classes = []string{"deploy", "typed", "webhook", "schedule"}

// Weights are the classes' shares when all have work waiting: a worker
// that takes 15 jobs while every class waits takes 8 deploys, 4 typed
// jobs, 2 webhook builds and 1 scheduled job, so no class starves.
var Weights = []int{8, 4, 2, 1}

// QueueOf is the stream of class's jobs: the typed class keeps the
// queue's first key (Keys.Queue), the others are that key with
// ":CLASS" after it, in the same hash slot. An unknown class is typed.
func (k Keys) QueueOf(class string) string {
	if class == "" || class == "typed" || !slices.Contains(Classes, class) {
		return k.Queue()
	}
	return k.Queue() + ":" + class
}

// Credits is the hash of the classes' credits in the weighted choice of
// Take (see takeScript).
func (k Keys) Credits() string { return k.Queue() + ":credits" }

// streams are the class streams, in the order of Classes.
func (q *Queue) streams() []string {
	out := make([]string, len(Classes))
	for i, c := range Classes {
		out[i] = q.k.QueueOf(c)
	}
	return out
}

// Queue is the queue of jobs ready for a worker, the scheduled retries,
// and the jobs' leases.
type Queue struct {
	r          redis.UniversalClient
	k          Keys
	eventsKept int64
}

// NewQueue returns the queue of namespace k. eventsKept is the events
// stream's approximate length (a claim that starts a job announces it).
func NewQueue(c *Client, k Keys, eventsKept int64) *Queue {
	return &Queue{r: c.r, k: k, eventsKept: eventsKept}
}

// Init creates the consumer group of each class's stream where it is
// missing.
func (q *Queue) Init(ctx context.Context) error {
	for _, st := range q.streams() {
		if err := q.r.XGroupCreateMkStream(ctx, st, workerGroup, "0").Err(); err != nil && !busyGroup(err) {
			return err
		}
	}
	return nil
}

// Reclaim takes over up to count deliveries that have sat unacknowledged
// for longer than minIdle, looking at the classes in order of priority.
// Without a consumer group it creates them and returns nothing.
func (q *Queue) Reclaim(ctx context.Context, consumer string, minIdle time.Duration, count int64) ([]Delivery, error) {
	var out []Delivery
	for _, st := range q.streams() {
		if count <= int64(len(out)) {
			break
		}
		msgs, _, err := q.r.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: st, Group: workerGroup, Consumer: consumer,
			MinIdle: minIdle, Start: "0-0", Count: count - int64(len(out)),
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if noGroup(err) {
				return out, q.Init(ctx)
			}
			return out, err
		}
		out = append(out, deliveries(msgs, st)...)
	}
	return out, nil
}

// takeScript takes up to a number of new deliveries from the class
// streams, choosing among the classes with work waiting by smooth
// weighted round robin: each choice adds every waiting class's weight to
// its credit, takes from the class with the most (the earlier class on a
// tie), and takes the sum of the weights from that class's credit. A
// class with nothing waiting (no entry after its group's last delivered
// one) has no credit, so none banks credit while idle, and a class that
// starts waiting competes from zero: a deploy queued behind any number of
// builds is the next job taken.
//
//	KEYS[1..4] the streams of deploy, typed, webhook, schedule;
//	KEYS[5] the credits hash (field "1".."4": the classes' credits)
//	ARGV[1] the consumer group, ARGV[2] the consumer, ARGV[3] how many
//	deliveries at most, ARGV[4..7] the weights of the four classes
//
// It replies {taken, last}: taken is a flat list of class (1..4), entry
// id and job number for each delivery, in the order taken; when nothing
// was taken, last holds the id of the newest entry of each stream
// ("0-0" for an empty one), from which a blocking XREAD waits for new
// work without missing any. A stream without the consumer group is a
// NOGROUP error.
var takeScript = redis.NewScript(`
local function older(a, b)
  local ams, aseq = string.match(a, '^(%d+)-?(%d*)$')
  local bms, bseq = string.match(b, '^(%d+)-?(%d*)$')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq) or 0, tonumber(bms), tonumber(bseq) or 0
  return ams < bms or (ams == bms and aseq < bseq)
end
local n = tonumber(ARGV[3])
local w, credit, waiting, last = {}, {}, {}, {}
local saved = redis.call('HMGET', KEYS[5], '1', '2', '3', '4')
local filled = 0
for i = 1, 4 do
  w[i] = tonumber(ARGV[3 + i])
  credit[i] = tonumber(saved[i]) or 0
  local e = redis.call('XREVRANGE', KEYS[i], '+', '-', 'COUNT', 1)
  last[i] = e[1] and e[1][1] or '0-0'
  if e[1] then filled = filled + 1 end
end
for i = 1, 4 do
  local delivered
  if last[i] ~= '0-0' and filled > 1 then
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[i])) do
      local f = {}
      for j = 1, #g, 2 do f[g[j]] = g[j + 1] end
      if f['name'] == ARGV[1] then delivered = f['last-delivered-id'] end
    end
    if not delivered then return redis.error_reply('NOGROUP no consumer group on ' .. KEYS[i]) end
    waiting[i] = older(delivered, last[i])
  else
    -- With one stream holding entries, whether they wait is found by
    -- reading it (the cheaper way, and the common case).
    waiting[i] = last[i] ~= '0-0'
  end
  if not waiting[i] then credit[i] = 0 end
end
local taken = {}
while #taken < 3 * n do
  local got
  for i = 1, 4 do
    if waiting[i] and (not got or credit[i] + w[i] > credit[got] + w[got]) then got = i end
  end
  if not got then break end
  -- With one class waiting, the rest of the batch comes from it at once.
  local others, count = false, 1
  for i = 1, 4 do if waiting[i] and i ~= got then others = true end end
  if not others then count = n - #taken / 3 end
  local r = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', count, 'STREAMS', KEYS[got], '>')
  local entries = (r and r[1] and r[1][2]) or {}
  for _, e in ipairs(entries) do
    local job = ''
    for f = 1, #e[2], 2 do if e[2][f] == 'job' then job = e[2][f + 1] end end
    taken[#taken + 1] = got
    taken[#taken + 1] = e[1]
    taken[#taken + 1] = job
    if e[1] == last[got] then waiting[got] = false end
  end
  if #entries == 0 or not others then
    waiting[got] = false
  else
    local total = 0
    for i = 1, 4 do
      if waiting[i] or i == got then
        credit[i] = credit[i] + w[i]
        total = total + w[i]
      end
    end
    credit[got] = credit[got] - total
  end
end
local changed = false
for i = 1, 4 do if credit[i] ~= (tonumber(saved[i]) or 0) then changed = true end end
if changed then
  redis.call('HSET', KEYS[5], '1', credit[1], '2', credit[2], '3', credit[3], '4', credit[4])
end
if #taken > 0 then last = {} end
return {taken, last}
`)

// Take takes up to count new deliveries, choosing among the classes by
// priority and weight (see takeScript); with none waiting it waits up to
// block for one to come. Without a consumer group it creates them and
// returns nothing.
func (q *Queue) Take(ctx context.Context, consumer string, count int64, block time.Duration) ([]Delivery, error) {
	ds, last, err := q.take(ctx, consumer, count)
	if err != nil || len(ds) > 0 || block <= 0 {
		return ds, err
	}
	streams := q.streams()
	err = q.r.XRead(ctx, &redis.XReadArgs{Streams: append(streams, last...), Count: 1, Block: block}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	ds, _, err = q.take(ctx, consumer, count)
	return ds, err
}

func (q *Queue) take(ctx context.Context, consumer string, count int64) ([]Delivery, []string, error) {
	streams := q.streams()
	args := []any{workerGroup, consumer, count}
	for _, w := range Weights {
		args = append(args, w)
	}
	res, err := takeScript.Run(ctx, q.r, append(slices.Clone(streams), q.k.Credits()), args...).Slice()
	if err != nil {
		if noGroup(err) {
			return nil, nil, q.Init(ctx)
		}
		return nil, nil, err
	}
	if len(res) != 2 {
		return nil, nil, fmt.Errorf("take: unexpected reply %v", res)
	}
	flat, _ := res[0].([]any)
	var out []Delivery
	for i := 0; i+2 < len(flat); i += 3 {
		cls, _ := flat[i].(int64)
		msg, _ := flat[i+1].(string)
		job, _ := flat[i+2].(string)
		id, _ := strconv.ParseInt(job, 10, 64)
		if cls < 1 || int(cls) > len(streams) {
			return nil, nil, fmt.Errorf("take: unexpected class %v", flat[i])
		}
		out = append(out, Delivery{Job: id, MsgID: msg, Stream: streams[cls-1]})
	}
	var last []string
	for _, v := range res[1].([]any) {
		id, _ := v.(string)
		last = append(last, id)
	}
	if len(out) == 0 && len(last) != len(streams) {
		return nil, nil, fmt.Errorf("take: unexpected reply %v", res)
	}
	return out, last, nil
}

func deliveries(msgs []redis.XMessage, stream string) []Delivery {
	out := make([]Delivery, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["job"].(string)
		id, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, Delivery{Job: id, MsgID: m.ID, Stream: stream})
	}
	return out
}

// Touch resets the idle time of consumer's deliveries ds.
func (q *Queue) Touch(ctx context.Context, consumer string, ds ...Delivery) error {
	byStream := map[string][]string{}
	for _, d := range ds {
		byStream[q.stream(d)] = append(byStream[q.stream(d)], d.MsgID)
	}
	for st, ids := range byStream {
		err := q.r.XClaimJustID(ctx, &redis.XClaimArgs{
			Stream: st, Group: workerGroup, Consumer: consumer, MinIdle: 0, Messages: ids,
		}).Err()
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// Done acknowledges delivery d; Trim removes it from the stream later.
func (q *Queue) Done(ctx context.Context, d Delivery) error {
	return q.r.XAck(ctx, q.stream(d), workerGroup, d.MsgID).Err()
}

// trimScript cuts the queue stream before the oldest entry that is still
// pending or not yet delivered to the consumer group: every entry before
// it has been acknowledged.
//
//	KEYS[1] the queue stream
//	ARGV[1] the consumer group
//
// It replies with the number of entries removed (0 when the stream or
// the group does not exist). Redis removes whole nodes of the stream only
// (MINID ~), so a few acknowledged entries may wait for a later trim.
var trimScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local function older(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, aseq, bms, bseq = tonumber(ams), tonumber(aseq), tonumber(bms), tonumber(bseq)
  return ams < bms or (ams == bms and aseq < bseq)
end
local keep
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  if f['name'] == ARGV[1] then keep = f['last-delivered-id'] end
end
if not keep then return 0 end
local p = redis.call('XPENDING', KEYS[1], ARGV[1])
if p[1] > 0 and older(p[2], keep) then keep = p[2] end
return redis.call('XTRIM', KEYS[1], 'MINID', '~', keep)
`)

// Trim removes acknowledged entries from the class streams (see
// trimScript) and returns how many.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	var n int64
	for _, st := range q.streams() {
		m, err := trimScript.Run(ctx, q.r, []string{st}, workerGroup).Int64()
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// requeueScript hands a delivery back to the queue.
//
//	KEYS[1] the queue stream, KEYS[2] the job's lease
//	ARGV[1] the consumer group, ARGV[2] the delivery's stream id,
//	ARGV[3] the job number, ARGV[4] the worker giving it back
//
// The delivery is acknowledged, the worker's lease (only its own) deleted
// and a fresh delivery added; it returns the new delivery's id.
var requeueScript = redis.NewScript(`
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
`)

// Requeue hands delivery d back: a fresh delivery of the same job
// replaces it, and owner's lease on the job goes in the same step. It
// returns the fresh delivery's stream id.
func (q *Queue) Requeue(ctx context.Context, d Delivery, owner string) (string, error) {
	keys := []string{q.stream(d), q.k.Lease(d.Job)}
	return requeueScript.Run(ctx, q.r, keys, workerGroup, d.MsgID, d.Job, owner).Text()
}

// promoteScript queues jobs whose retry backoff has passed, each on its
// class's stream.
//
//	KEYS[1] the scheduled set, KEYS[2] the typed class's stream (the other
//	        classes' are KEYS[2] .. ':' .. class, in its hash slot)
//	ARGV[1] now (Unix ms), ARGV[2] the key prefix (for the job records)
//
// It moves at most 100 due jobs at a time and returns how many it moved.
var promoteScript = redis.NewScript(queueOfLua + `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', queueOf(KEYS[2], redis.call('HGET', ARGV[2] .. 'job:' .. id, 'class')), '*', 'job', id)
end
return #due
`)

// queueOfLua defines queueOf(typed, class), the Lua twin of Keys.QueueOf:
// the stream of class's jobs, given the typed class's stream.
const queueOfLua = `
local function queueOf(typed, class)
  if class == 'deploy' or class == 'webhook' or class == 'schedule' then
    return typed .. ':' .. class
  end
  return typed
end
`

// Promote moves the scheduled jobs due by now onto the queue and returns
// how many it moved.
func (q *Queue) Promote(ctx context.Context, now time.Time) (int, error) {
	return promoteScript.Run(ctx, q.r, []string{q.k.Scheduled(), q.k.Queue()}, now.UnixMilli(), q.k.Prefix()).Int()
}

// Depth is how many deliveries wait for a worker, and how many are held,
// over every class's stream.
func (q *Queue) Depth(ctx context.Context) (waiting, held int64, err error) {
	for _, st := range q.streams() {
		w, h, err := q.depth(ctx, st)
		if err != nil {
			return 0, 0, err
		}
		waiting, held = waiting+w, held+h
	}
	return waiting, held, nil
}

func (q *Queue) depth(ctx context.Context, stream string) (waiting, held int64, err error) {
	groups, err := q.r.XInfoGroups(ctx, stream).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return 0, 0, nil
		}
		return 0, 0, err
	}
	for _, g := range groups {
		if g.Name == workerGroup {
			return g.Lag, g.Pending, nil
		}
	}
	n, err := q.r.XLen(ctx, stream).Result()
	return n, 0, err
}
