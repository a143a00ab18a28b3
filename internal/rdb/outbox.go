package rdb

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Outbox keeps the commit statuses and deployment statuses gantry has to
// tell GitHub (scm.Reporter) in Redis until GitHub has them, so that a
// restart, a crash or a long GitHub outage loses nothing. Reports wait in
// one list per queue (a commit's statuses, a deployment's statuses),
// delivered in order within a queue and in parallel across queues, by
// whichever gantry process takes the queue's lease first. The layout is in
// the package comment; every change is one script, so a queue is never in
// the due set without reports, nor has reports without being in it.
type Outbox struct {
	c    *Client
	base string // "{gantry}:github:outbox"
}

// NewOutbox returns the outbox of namespace ns ("" means "gantry").
func NewOutbox(c *Client, ns string) *Outbox {
	return &Outbox{c: c, base: NewKeys(ns).Prefix() + "github:outbox"}
}

func (o *Outbox) list(queue string) string  { return o.base + ":q:" + queue }
func (o *Outbox) lease(queue string) string { return o.base + ":lease:" + queue }
func (o *Outbox) due() string               { return o.base + ":due" }
func (o *Outbox) depthKey() string          { return o.base + ":depth" }
func (o *Outbox) dead() string              { return o.base + ":dead" }

// outboxPushScript appends a report to a queue unless the outbox is full.
//
//	KEYS  1 the queue's list, 2 due, 3 depth
//	ARGV  1 queue, 2 report, 3 now (ms), 4 most reports the outbox holds
//	reply the queue's length, or -1 when the outbox is full (nothing added)
//
// A queue that was empty comes due at now.
var outboxPushScript = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4]) then return -1 end
local n = redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('INCR', KEYS[3])
if n == 1 then redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1]) end
return n
`)

// Push appends item to queue; a queue that was empty is due at once. It
// reports false, adding nothing, when the outbox already holds limit
// reports.
func (o *Outbox) Push(ctx context.Context, queue string, item []byte, now time.Time, limit int64) (bool, error) {
	n, err := outboxPushScript.Run(ctx, o.c.r, []string{o.list(queue), o.due(), o.depthKey()},
		queue, item, now.UnixMilli(), limit).Int64()
	if err != nil {
		return false, err
	}
	return n >= 0, nil
}

// Due lists up to n queues whose first report may be tried at now.
func (o *Outbox) Due(ctx context.Context, now time.Time, n int64) ([]string, error) {
	return o.c.r.ZRangeByScore(ctx, o.due(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: n,
	}).Result()
}

// NextDue is when the next queue comes due; false when none waits.
func (o *Outbox) NextDue(ctx context.Context) (time.Time, bool, error) {
	zs, err := o.c.r.ZRangeWithScores(ctx, o.due(), 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return time.Time{}, false, err
	}
	return time.UnixMilli(int64(zs[0].Score)), true, nil
}

// outboxClaimScript takes a due queue's lease and returns its first report.
//
//	KEYS  1 due, 2 the queue's list, 3 the queue's lease
//	ARGV  1 queue, 2 now (ms), 3 lease (ms), 4 token
//	reply the first report, or nil when the queue is not due, someone holds
//	      its lease, or it is empty (then it leaves the due set)
//
// While the lease lasts the queue is due again at its end, so that a
// holder that dies delays the queue by one lease only.
var outboxClaimScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
if redis.call('EXISTS', KEYS[3]) == 1 then return false end
local head = redis.call('LINDEX', KEYS[2], 0)
if not head then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return false
end
redis.call('SET', KEYS[3], ARGV[4], 'PX', ARGV[3])
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return head
`)

// Claim takes queue's lease under token when its first report is due, and
// returns that report; false when the queue is not due or someone holds it.
// Should the holder die, the queue comes due again when the lease ends.
func (o *Outbox) Claim(ctx context.Context, queue, token string, now time.Time, lease time.Duration) ([]byte, bool, error) {
	head, err := outboxClaimScript.Run(ctx, o.c.r, []string{o.due(), o.list(queue), o.lease(queue)},
		queue, now.UnixMilli(), lease.Milliseconds(), token).Text()
	if IsNil(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return []byte(head), true, nil
}

// OutboxOutcome is what became of a queue's first report.
type OutboxOutcome string

const (
	OutboxSent  OutboxOutcome = "sent"  // delivered, or nothing to deliver: remove it
	OutboxRetry OutboxOutcome = "retry" // keep it first, updated, and try again at next
	OutboxDead  OutboxOutcome = "dead"  // given up: move it to the dead letters
)

// outboxFinishScript records what became of a queue's first report and
// gives the lease back.
//
//	KEYS  1 due, 2 the queue's list, 3 the queue's lease, 4 depth, 5 dead
//	ARGV  1 queue, 2 token, 3 outcome (sent, retry or dead), 4 now (ms),
//	      5 next try (ms, retry), 6 the report as kept (retry) or
//	      dead-lettered (dead), 7 why it was given up (dead)
//	reply 1, or 0 when token does not hold the lease (nothing changed)
//
// retry replaces the first report and makes the queue due at next; sent
// and dead remove it (dead adds it to the dead letters, capped at about
// 1000) and make the queue due at now if more reports wait, else drop it
// from the due set.
var outboxFinishScript = redis.NewScript(`
if redis.call('GET', KEYS[3]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[3])
if ARGV[3] == 'retry' then
  redis.call('LSET', KEYS[2], 0, ARGV[6])
  redis.call('ZADD', KEYS[1], ARGV[5], ARGV[1])
  return 1
end
redis.call('LPOP', KEYS[2])
redis.call('DECR', KEYS[4])
if ARGV[3] == 'dead' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', 1000, '*', 'queue', ARGV[1], 'report', ARGV[6], 'error', ARGV[7])
end
if redis.call('LLEN', KEYS[2]) > 0 then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return 1
`)

// Finish records what became of the first report of queue, whose lease
// token holds, and gives the lease back. item is the report as it is to be
// kept (retry) or dead-lettered (dead); why is the error given up on. It
// returns false when the lease had been lost (the holder was too slow, and
// another process may have delivered the report too).
func (o *Outbox) Finish(ctx context.Context, queue, token string, out OutboxOutcome, now, next time.Time, item []byte, why string) (bool, error) {
	n, err := outboxFinishScript.Run(ctx, o.c.r, []string{o.due(), o.list(queue), o.lease(queue), o.depthKey(), o.dead()},
		queue, token, string(out), now.UnixMilli(), next.UnixMilli(), item, why).Int64()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// outboxReleaseScript gives a queue's lease back untouched.
//
//	KEYS  1 due, 2 the queue's lease
//	ARGV  1 queue, 2 token, 3 now (ms)
//	reply 1, or 0 when token does not hold the lease (nothing changed)
//
// The queue is due at now again.
var outboxReleaseScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// Release gives queue's lease back untouched, due at once for whoever
// comes next. It reports false when token did not hold the lease.
func (o *Outbox) Release(ctx context.Context, queue, token string, now time.Time) (bool, error) {
	n, err := outboxReleaseScript.Run(ctx, o.c.r, []string{o.due(), o.lease(queue)}, queue, token, now.UnixMilli()).Int64()
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

// Depth is how many reports wait in the outbox.
func (o *Outbox) Depth(ctx context.Context) (int64, error) {
	n, err := o.c.r.Get(ctx, o.depthKey()).Int64()
	if IsNil(err) {
		return 0, nil
	}
	return n, err
}

// OutboxDeadLetter is a report given up on.
type OutboxDeadLetter struct {
	ID     string // the dead-letter stream's entry id
	Queue  string // the commit or deployment it was for
	Report string // the report, as JSON
	Error  string // why it was given up
}

// DeadLetters returns up to n of the reports given up on, newest first.
func (o *Outbox) DeadLetters(ctx context.Context, n int64) ([]OutboxDeadLetter, error) {
	msgs, err := o.c.r.XRevRangeN(ctx, o.dead(), "+", "-", n).Result()
	if err != nil {
		return nil, err
	}
	out := make([]OutboxDeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := OutboxDeadLetter{ID: m.ID}
		d.Queue, _ = m.Values["queue"].(string)
		d.Report, _ = m.Values["report"].(string)
		d.Error, _ = m.Values["error"].(string)
		out = append(out, d)
	}
	return out, nil
}
