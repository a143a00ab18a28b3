package scm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// outbox keeps what the Reporter has to tell GitHub in Redis until GitHub
// has it, so that a restart, a crash or a long GitHub outage loses
// nothing. Reports wait in one list per queue (a commit's statuses, a
// deployment's statuses), delivered in order within a queue and in
// parallel across queues, by whichever gantry process takes the queue's
// lease first.
//
//	{gantry}:github:outbox:q:QUEUE      list    the queue's reports, oldest first (JSON)
//	{gantry}:github:outbox:due          zset    queues with reports, scored by when the first may be tried
//	                                            (while a process holds the queue: when its lease ends)
//	{gantry}:github:outbox:lease:QUEUE  string  the process delivering the queue's first report (TTL: the lease)
//	{gantry}:github:outbox:depth        string  reports in all queues
//	{gantry}:github:outbox:dead         stream  reports given up, with why (capped at about 1000)
//
// Every change is one script, so a queue is never in the due set without
// reports, nor has reports without being in it.
type outbox struct {
	rdb  redis.UniversalClient
	base string // "{gantry}:github:outbox"
}

func newOutbox(rdb redis.UniversalClient, prefix string) outbox {
	return outbox{rdb: rdb, base: prefix + "github:outbox"}
}

func (o outbox) list(queue string) string  { return o.base + ":q:" + queue }
func (o outbox) lease(queue string) string { return o.base + ":lease:" + queue }
func (o outbox) due() string               { return o.base + ":due" }
func (o outbox) depthKey() string          { return o.base + ":depth" }
func (o outbox) dead() string              { return o.base + ":dead" }

// errOutboxFull is returned when the outbox holds as many reports as it may.
var errOutboxFull = errors.New("the GitHub outbox is full")

var pushScript = redis.NewScript(`
if tonumber(redis.call('GET', KEYS[3]) or '0') >= tonumber(ARGV[4]) then return -1 end
local n = redis.call('RPUSH', KEYS[1], ARGV[2])
redis.call('INCR', KEYS[3])
if n == 1 then redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[1]) end
return n
`)

// push appends item to queue; a queue that was empty is due at once.
func (o outbox) push(ctx context.Context, queue string, item []byte, now time.Time, limit int64) error {
	n, err := pushScript.Run(ctx, o.rdb, []string{o.list(queue), o.due(), o.depthKey()},
		queue, item, now.UnixMilli(), limit).Int64()
	if err != nil {
		return fmt.Errorf("queue GitHub report %s: %w", queue, err)
	}
	if n < 0 {
		return fmt.Errorf("queue GitHub report %s: %w (%d reports wait for GitHub)", queue, errOutboxFull, limit)
	}
	return nil
}

// dueQueues lists up to n queues whose first report may be tried now.
func (o outbox) dueQueues(ctx context.Context, now time.Time, n int64) ([]string, error) {
	qs, err := o.rdb.ZRangeByScore(ctx, o.due(), &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: n,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("read due GitHub reports: %w", err)
	}
	return qs, nil
}

// nextDue is when the next queue comes due; false when none waits.
func (o outbox) nextDue(ctx context.Context) (time.Time, bool, error) {
	zs, err := o.rdb.ZRangeWithScores(ctx, o.due(), 0, 0).Result()
	if err != nil || len(zs) == 0 {
		return time.Time{}, false, err
	}
	return time.UnixMilli(int64(zs[0].Score)), true, nil
}

var claimScript = redis.NewScript(`
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

// claim takes queue's lease under token when its first report is due, and
// returns that report; false when the queue is not due or someone holds it.
// Should the holder die, the queue comes due again when the lease ends.
func (o outbox) claim(ctx context.Context, queue, token string, now time.Time, lease time.Duration) ([]byte, bool, error) {
	head, err := claimScript.Run(ctx, o.rdb, []string{o.due(), o.list(queue), o.lease(queue)},
		queue, now.UnixMilli(), lease.Milliseconds(), token).Text()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("claim GitHub reports %s: %w", queue, err)
	}
	return []byte(head), true, nil
}

// outcome is what became of a queue's first report.
type outcome string

const (
	sent  outcome = "sent"  // delivered, or nothing to deliver: remove it
	retry outcome = "retry" // keep it first, updated, and try again at next
	dead  outcome = "dead"  // given up: move it to the dead letters
)

var finishScript = redis.NewScript(`
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

// finish records what became of the first report of queue, whose lease
// token holds, and gives the lease back. item is the report as it is to be
// kept (retry) or dead-lettered (dead); why is the error given up on. It
// returns false when the lease had been lost (the holder was too slow, and
// another process may have delivered the report too).
func (o outbox) finish(ctx context.Context, queue, token string, out outcome, now, next time.Time, item []byte, why string) (bool, error) {
	n, err := finishScript.Run(ctx, o.rdb, []string{o.due(), o.list(queue), o.lease(queue), o.depthKey(), o.dead()},
		queue, token, string(out), now.UnixMilli(), next.UnixMilli(), item, why).Int64()
	if err != nil {
		return false, fmt.Errorf("record GitHub report %s %s: %w", queue, out, err)
	}
	return n == 1, nil
}

var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[2])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// release gives queue's lease back untouched, due at once for whoever
// comes next.
func (o outbox) release(ctx context.Context, queue, token string, now time.Time) error {
	err := releaseScript.Run(ctx, o.rdb, []string{o.due(), o.lease(queue)}, queue, token, now.UnixMilli()).Err()
	if err != nil {
		return fmt.Errorf("give back GitHub reports %s: %w", queue, err)
	}
	return nil
}

// depth is how many reports wait in the outbox.
func (o outbox) depth(ctx context.Context) (int64, error) {
	n, err := o.rdb.Get(ctx, o.depthKey()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read GitHub outbox depth: %w", err)
	}
	return n, nil
}

// deadLetters returns up to n of the reports given up, newest first.
func (o outbox) deadLetters(ctx context.Context, n int64) ([]DeadReport, error) {
	msgs, err := o.rdb.XRevRangeN(ctx, o.dead(), "+", "-", n).Result()
	if err != nil {
		return nil, fmt.Errorf("read dead GitHub reports: %w", err)
	}
	out := make([]DeadReport, 0, len(msgs))
	for _, m := range msgs {
		d := DeadReport{ID: m.ID}
		d.Queue, _ = m.Values["queue"].(string)
		d.Report, _ = m.Values["report"].(string)
		d.Error, _ = m.Values["error"].(string)
		out = append(out, d)
	}
	return out, nil
}

// DeadReport is a report the Reporter gave up on.
type DeadReport struct {
	ID     string // the dead-letter stream's entry id
	Queue  string // the commit or deployment it was for
	Report string // the report, as JSON
	Error  string // why it was given up
}
