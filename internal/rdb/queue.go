package rdb

import (
	"context"
	"errors"
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

// Delivery is one queue entry handed to one worker: a job number and the
// entry's stream id.
type Delivery struct {
	Job   int64
	MsgID string
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

// Init creates the consumer group if it is missing.
func (q *Queue) Init(ctx context.Context) error {
	if err := q.r.XGroupCreateMkStream(ctx, q.k.Queue(), workerGroup, "0").Err(); err != nil && !busyGroup(err) {
		return err
	}
	return nil
}

// Reclaim takes over up to count deliveries that have sat unacknowledged
// for longer than minIdle. Without a consumer group it creates one and
// returns nothing.
func (q *Queue) Reclaim(ctx context.Context, consumer string, minIdle time.Duration, count int64) ([]Delivery, error) {
	msgs, _, err := q.r.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.k.Queue(), Group: workerGroup, Consumer: consumer,
		MinIdle: minIdle, Start: "0-0", Count: count,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if noGroup(err) {
			return nil, q.Init(ctx)
		}
		return nil, err
	}
	return deliveries(msgs), nil
}

// Take waits up to block for up to count new deliveries. Without a
// consumer group it creates one and returns nothing.
func (q *Queue) Take(ctx context.Context, consumer string, count int64, block time.Duration) ([]Delivery, error) {
	res, err := q.r.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: workerGroup, Consumer: consumer, Streams: []string{q.k.Queue(), ">"},
		Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if noGroup(err) {
			return nil, q.Init(ctx)
		}
		return nil, err
	}
	var out []Delivery
	for _, st := range res {
		out = append(out, deliveries(st.Messages)...)
	}
	return out, nil
}

func deliveries(msgs []redis.XMessage) []Delivery {
	out := make([]Delivery, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["job"].(string)
		id, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, Delivery{Job: id, MsgID: m.ID})
	}
	return out
}

// Touch resets the idle time of consumer's deliveries msgIDs.
func (q *Queue) Touch(ctx context.Context, consumer string, msgIDs ...string) error {
	if len(msgIDs) == 0 {
		return nil
	}
	err := q.r.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: q.k.Queue(), Group: workerGroup, Consumer: consumer, MinIdle: 0, Messages: msgIDs,
	}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	return nil
}

// Done acknowledges delivery msgID; Trim removes it from the stream later.
func (q *Queue) Done(ctx context.Context, msgID string) error {
	return q.r.XAck(ctx, q.k.Queue(), workerGroup, msgID).Err()
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

// Trim removes acknowledged entries from the queue stream (see
// trimScript) and returns how many.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	return trimScript.Run(ctx, q.r, []string{q.k.Queue()}, workerGroup).Int64()
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
	keys := []string{q.k.Queue(), q.k.Lease(d.Job)}
	return requeueScript.Run(ctx, q.r, keys, workerGroup, d.MsgID, d.Job, owner).Text()
}

// promoteScript queues jobs whose retry backoff has passed.
//
//	KEYS[1] the scheduled set, KEYS[2] the queue stream
//	ARGV[1] now (Unix ms)
//
// It moves at most 100 due jobs at a time and returns how many it moved.
var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'job', id)
end
return #due
`)

// Promote moves the scheduled jobs due by now onto the queue and returns
// how many it moved.
func (q *Queue) Promote(ctx context.Context, now time.Time) (int, error) {
	return promoteScript.Run(ctx, q.r, []string{q.k.Scheduled(), q.k.Queue()}, now.UnixMilli()).Int()
}

// Depth is how many deliveries wait for a worker, and how many are held.
func (q *Queue) Depth(ctx context.Context) (waiting, held int64, err error) {
	groups, err := q.r.XInfoGroups(ctx, q.k.Queue()).Result()
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
	n, err := q.r.XLen(ctx, q.k.Queue()).Result()
	return n, 0, err
}
