package jobs

import (
	"context"
	"errors"
	"fmt"
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

const workerGroup = "workers"

// Delivery is one job handed to one worker.
type Delivery struct {
	Job   int64
	MsgID string
}

// Queue hands queued jobs to workers.
type Queue struct {
	rdb  redis.UniversalClient
	keys Keys
	now  func() time.Time
}

// NewQueue returns the queue that s feeds.
func NewQueue(s *Store) *Queue { return &Queue{rdb: s.rdb, keys: s.keys, now: s.now} }

// Init creates the consumer group if it is missing.
func (q *Queue) Init(ctx context.Context) error {
	err := q.rdb.XGroupCreateMkStream(ctx, q.keys.Queue(), workerGroup, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create queue group: %w", err)
	}
	return nil
}

// Reclaim takes over up to count deliveries that have sat unacknowledged
// for longer than minIdle: their workers are gone.
func (q *Queue) Reclaim(ctx context.Context, consumer string, minIdle time.Duration, count int64) ([]Delivery, error) {
	msgs, _, err := q.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: q.keys.Queue(), Group: workerGroup, Consumer: consumer,
		MinIdle: minIdle, Start: "0-0", Count: count,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		if isNoGroup(err) {
			return nil, q.Init(ctx)
		}
		return nil, fmt.Errorf("reclaim deliveries: %w", err)
	}
	return deliveries(msgs), nil
}

// Take waits up to block for up to count new deliveries.
func (q *Queue) Take(ctx context.Context, consumer string, count int64, block time.Duration) ([]Delivery, error) {
	res, err := q.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: workerGroup, Consumer: consumer, Streams: []string{q.keys.Queue(), ">"},
		Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if isNoGroup(err) {
			return nil, q.Init(ctx)
		}
		return nil, fmt.Errorf("take deliveries: %w", err)
	}
	var out []Delivery
	for _, st := range res {
		out = append(out, deliveries(st.Messages)...)
	}
	return out, nil
}

func isNoGroup(err error) bool { return strings.Contains(err.Error(), "NOGROUP") }

func deliveries(msgs []redis.XMessage) []Delivery {
	out := make([]Delivery, 0, len(msgs))
	for _, m := range msgs {
		v, _ := m.Values["job"].(string)
		id, _ := strconv.ParseInt(v, 10, 64)
		out = append(out, Delivery{Job: id, MsgID: m.ID})
	}
	return out
}

// Touch resets the idle time of the worker's deliveries, so that they are
// not reclaimed while it lives.
func (q *Queue) Touch(ctx context.Context, consumer string, msgIDs ...string) error {
	if len(msgIDs) == 0 {
		return nil
	}
	err := q.rdb.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: q.keys.Queue(), Group: workerGroup, Consumer: consumer, MinIdle: 0, Messages: msgIDs,
	}).Err()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("touch deliveries: %w", err)
	}
	return nil
}

// Done acknowledges and removes a delivery.
func (q *Queue) Done(ctx context.Context, d Delivery) error {
	pipe := q.rdb.TxPipeline()
	pipe.XAck(ctx, q.keys.Queue(), workerGroup, d.MsgID)
	pipe.XDel(ctx, q.keys.Queue(), d.MsgID)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("ack delivery of job #%d: %w", d.Job, err)
	}
	return nil
}

var requeueScript = redis.NewScript(`
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if redis.call('GET', KEYS[2]) == ARGV[4] then redis.call('DEL', KEYS[2]) end
return redis.call('XADD', KEYS[1], '*', 'job', ARGV[3])
`)

// Requeue hands a delivery back: a fresh delivery of the same job replaces
// it, to be taken at once by any worker, and owner's lease on the job goes
// in the same step, so the next worker can take it.
func (q *Queue) Requeue(ctx context.Context, d Delivery, owner string) error {
	keys := []string{q.keys.Queue(), q.keys.Lease(d.Job)}
	if err := requeueScript.Run(ctx, q.rdb, keys, workerGroup, d.MsgID, d.Job, owner).Err(); err != nil {
		return fmt.Errorf("hand back job #%d: %w", d.Job, err)
	}
	return nil
}

var promoteScript = redis.NewScript(`
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('XADD', KEYS[2], '*', 'job', id)
end
return #due
`)

// Promote moves jobs whose retry backoff has passed onto the queue.
func (q *Queue) Promote(ctx context.Context) (int, error) {
	n, err := promoteScript.Run(ctx, q.rdb, []string{q.keys.Scheduled(), q.keys.Queue()}, q.now().UnixMilli()).Int()
	if err != nil {
		return 0, fmt.Errorf("promote scheduled jobs: %w", err)
	}
	return n, nil
}

// Depth is how many deliveries wait for a worker, and how many are held.
func (q *Queue) Depth(ctx context.Context) (waiting, held int64, err error) {
	groups, err := q.rdb.XInfoGroups(ctx, q.keys.Queue()).Result()
	if err != nil {
		if strings.Contains(err.Error(), "no such key") {
			return 0, 0, nil
		}
		return 0, 0, fmt.Errorf("queue depth: %w", err)
	}
	for _, g := range groups {
		if g.Name == workerGroup {
			return g.Lag, g.Pending, nil
		}
	}
	n, err := q.rdb.XLen(ctx, q.keys.Queue()).Result()
	return n, 0, err
}

var acquireLeaseScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`)

// Lease takes (or renews) the lease on job id for owner. It returns false
// while another owner holds it.
func (q *Queue) Lease(ctx context.Context, id int64, owner string, ttl time.Duration) (bool, error) {
	n, err := acquireLeaseScript.Run(ctx, q.rdb, []string{q.keys.Lease(id)}, owner, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("lease job #%d: %w", id, err)
	}
	return n == 1, nil
}

var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// Unlease gives up owner's lease on job id.
func (q *Queue) Unlease(ctx context.Context, id int64, owner string) error {
	if err := releaseLeaseScript.Run(ctx, q.rdb, []string{q.keys.Lease(id)}, owner).Err(); err != nil {
		return fmt.Errorf("release lease of job #%d: %w", id, err)
	}
	return nil
}

// LeaseHolder names the owner of job id's lease, "" when none.
func (q *Queue) LeaseHolder(ctx context.Context, id int64) (string, error) {
	v, err := q.rdb.Get(ctx, q.keys.Lease(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// CancelChannel is the pub/sub channel on which cancels are broadcast.
func (q *Queue) CancelChannel() string { return q.keys.Cancel() }
