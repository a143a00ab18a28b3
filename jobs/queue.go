package jobs

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
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

const workerGroup = "workers"

// Delivery is one job handed to one worker.
type Delivery struct {
	Job   int64
	MsgID string
}

// Queue hands queued jobs to workers.
type Queue struct {
	rdb          redis.UniversalClient
	keys         rdb.Keys
	now          func() time.Time
	eventsMaxLen int64
}

// NewQueue returns the queue that s feeds.
func NewQueue(s *Store) *Queue {
	return &Queue{rdb: s.rdb, keys: s.keys, now: s.now, eventsMaxLen: s.eventsMaxLen}
}

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

// Done acknowledges a delivery; Trim removes it from the stream later.
func (q *Queue) Done(ctx context.Context, d Delivery) error {
	if err := q.rdb.XAck(ctx, q.keys.Queue(), workerGroup, d.MsgID).Err(); err != nil {
		return fmt.Errorf("ack delivery of job #%d: %w", d.Job, err)
	}
	return nil
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

// Trim removes acknowledged entries from the queue stream; see trimScript.
func (q *Queue) Trim(ctx context.Context) (int64, error) {
	n, err := trimScript.Run(ctx, q.rdb, []string{q.keys.Queue()}, workerGroup).Int64()
	if err != nil {
		return 0, fmt.Errorf("trim queue: %w", err)
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

// claimScript leases each delivered job for a worker, in one step for a
// whole batch of deliveries, and for a worker without gates also moves
// the jobs it may start to running. The worker reads the records of the
// jobs it now holds in the same round trip (see Claim).
//
//	KEYS[1] the queue stream (every other key is built from ARGV[1]; all
//	        share its hash tag)
//	ARGV[1] the key prefix, ARGV[2] the queue's consumer group,
//	ARGV[3] the worker (lease owner), ARGV[4] the lease's TTL in ms,
//	ARGV[5] "" to start nothing, or the time (Unix ms) at which jobs that
//	        are queued or waiting, with no cancel recorded, move to
//	        running: their "started" (unless they have one already) and
//	        state are set and the move is announced on the events stream
//	        as Store.Transition announces it,
//	ARGV[6] events kept (the stream's approximate MAXLEN),
//	ARGV[7], ARGV[8], … pairs of job number and delivery stream id
//
// It replies with one entry per pair, in order:
//
//	{0, holder}  another worker holds the job's lease: nothing is
//	             changed, the delivery stays pending
//	{1}          leased to ARGV[3] (taken, or renewed if it already held it)
//	{2}          no such job: the delivery is acknowledged
//	{3, state}   the job is final or awaits approval, so there is nothing
//	             to run: the delivery is acknowledged, nothing is leased
//	{4}          leased to ARGV[3] and moved to running (ARGV[5] set)
var claimScript = redis.NewScript(`
local out = {}
local events = ARGV[1] .. 'events'
for i = 7, #ARGV, 2 do
  local id, msg = ARGV[i], ARGV[i + 1]
  local lk = ARGV[1] .. 'lease:' .. id
  local cur = redis.call('GET', lk)
  if cur and cur ~= ARGV[3] then
    out[#out + 1] = {0, cur}
  else
    local jk = ARGV[1] .. 'job:' .. id
    local st = redis.call('HGET', jk, 'state')
    if not st or st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'errored' or st == 'awaiting_approval' then
      redis.call('XACK', KEYS[1], ARGV[2], msg)
      if cur then redis.call('DEL', lk) end
      if st then out[#out + 1] = {3, st} else out[#out + 1] = {2} end
    else
      redis.call('SET', lk, ARGV[3], 'PX', ARGV[4])
      if ARGV[5] ~= '' and (st == 'queued' or st == 'waiting') and not redis.call('HGET', jk, 'cancel_by') then
        local started = redis.call('HGET', jk, 'started')
        if not started or started == '' then started = ARGV[5] end
        redis.call('HSET', jk, 'state', 'running', 'started', started)
        redis.call('XADD', events, 'MAXLEN', '~', ARGV[6], '*', 'job', id, 'type', 'state', 'state', 'running', 'text', '')
        out[#out + 1] = {4}
      else
        out[#out + 1] = {1}
      end
    end
  end
end
return out
`)

// Claim is a delivery as Claim left it.
type Claim struct {
	Delivery
	// Job is the job's record when the worker now holds its lease; nil
	// when another worker holds it (the delivery stays pending), or when
	// there is nothing to run (the job is gone, final or awaiting
	// approval: the delivery was acknowledged).
	Job *Job
	// CancelBy is the cancel recorded on the job, if any.
	CancelBy *CancelError
	// Holder is the worker that holds the lease, when it is another.
	Holder string
	// Err says why a leased job's record could not be read; Job is nil.
	Err error
	// Started says the claim moved the job to running.
	Started bool

	leased time.Time // when the lease was asked for: it runs a TTL from then at least
}

// Claim leases the jobs of ds for owner, for ttl (see claimScript), and
// reads the records of those it now holds, in one round trip: the script
// and the reads go in one pipeline, each read after the lease it depends
// on, as the worker did in two round trips before. A lease held by another
// owner is left alone. With start, the jobs that are queued or waiting,
// with no cancel recorded, are moved to running in the same step: for a
// worker with no gates to pass first.
func (q *Queue) Claim(ctx context.Context, ds []Delivery, owner string, ttl time.Duration, start bool) ([]Claim, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	startAt := ""
	if start {
		startAt = fmtTime(q.now())
	}
	args := make([]any, 0, 6+2*len(ds))
	args = append(args, q.keys.Prefix(), workerGroup, owner, ttl.Milliseconds(), startAt, q.eventsMaxLen)
	for _, d := range ds {
		args = append(args, d.Job, d.MsgID)
	}
	keys := []string{q.keys.Queue()}
	var claimed *redis.Cmd
	reads := make([]*redis.MapStringStringCmd, len(ds))
	send := func(claim func(pipe redis.Pipeliner) *redis.Cmd) error {
		pipe := q.rdb.Pipeline()
		claimed = claim(pipe)
		for i, d := range ds {
			reads[i] = pipe.HGetAll(ctx, q.keys.Job(d.Job))
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := send(func(pipe redis.Pipeliner) *redis.Cmd { return claimScript.EvalSha(ctx, pipe, keys, args...) })
	if err != nil && redis.HasErrorPrefix(claimed.Err(), "NOSCRIPT") {
		// Redis lost its scripts (it restarted): nothing was leased.
		err = send(func(pipe redis.Pipeliner) *redis.Cmd { return claimScript.Eval(ctx, pipe, keys, args...) })
	}
	if err != nil {
		return nil, fmt.Errorf("claim %d deliveries: %w", len(ds), err)
	}
	res, err := claimed.Slice()
	if err != nil || len(res) != len(ds) {
		return nil, fmt.Errorf("claim %d deliveries: unexpected reply %v (%v)", len(ds), res, err)
	}
	out := make([]Claim, len(ds))
	for i, d := range ds {
		out[i].Delivery = d
		r, _ := res[i].([]any)
		if len(r) == 0 {
			return nil, fmt.Errorf("claim job #%d: unexpected reply %v", d.Job, res[i])
		}
		switch st, _ := r[0].(int64); st {
		case 0:
			out[i].Holder, _ = r[1].(string)
		case 1, 4:
			out[i].Started = st == 4
			m := reads[i].Val()
			out[i].Job, out[i].Err = decodeJob(d.Job, m)
			if by, ok := m["cancel_by"]; ok {
				out[i].CancelBy = &CancelError{By: by}
			}
		}
	}
	return out, nil
}

// acquireLeaseScript takes or renews a job's lease.
//
//	KEYS[1] the job's lease
//	ARGV[1] the worker, ARGV[2] the TTL (ms)
//
// It returns 1 when ARGV[1] holds the lease for the TTL now, 0 when
// another worker holds it (nothing changed).
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

// releaseLeaseScript gives up a job's lease.
//
//	KEYS[1] the job's lease
//	ARGV[1] the worker
//
// Only the worker's own lease is deleted; it returns 1 when it was, else 0.
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
