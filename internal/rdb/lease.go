package rdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimScript leases each delivered job for a worker, in one step for a
// whole batch of deliveries, and for a worker without gates also moves
// the jobs it may start to running. The worker reads the records of the
// jobs it now holds in the same round trip (see Claim).
//
//	KEYS[1] the typed class's queue stream (every other key is built from
//	        ARGV[1] or named in ARGV; all share its hash tag)
//	ARGV[1] the key prefix, ARGV[2] the queue's consumer group,
//	ARGV[3] the worker (lease owner), ARGV[4] the lease's TTL in ms,
//	ARGV[5] "" to start nothing, or the time (Unix ms) at which jobs that
//	        are queued or waiting, with no cancel recorded, move to
//	        running: their "started" (unless they have one already) and
//	        state are set and the move is announced on the events stream
//	        as Records.Transition announces it,
//	ARGV[6] events kept (the stream's approximate MAXLEN),
//	ARGV[7], ARGV[8], ARGV[9], … triples of job number, delivery id and
//	        the stream the delivery is on
//
// It replies with one entry per triple, in order:
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
for i = 7, #ARGV, 3 do
  local id, msg, stream = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local lk = ARGV[1] .. 'lease:' .. id
  local cur = redis.call('GET', lk)
  if cur and cur ~= ARGV[3] then
    out[#out + 1] = {0, cur}
  else
    local jk = ARGV[1] .. 'job:' .. id
    local f = redis.call('HMGET', jk, 'state', 'cancel_by', 'started')
    local st = f[1]
    if not st or st == 'succeeded' or st == 'failed' or st == 'cancelled' or st == 'errored' or st == 'awaiting_approval' then
      redis.call('XACK', stream, ARGV[2], msg)
      if cur then redis.call('DEL', lk) end
      if st then out[#out + 1] = {3, st} else out[#out + 1] = {2} end
    else
      redis.call('SET', lk, ARGV[3], 'PX', ARGV[4])
      if ARGV[5] ~= '' and (st == 'queued' or st == 'waiting') and not f[2] then
        local started = f[3]
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

// ClaimStatus is what a claim did with one delivery; see claimScript.
type ClaimStatus int

const (
	ClaimHeld    ClaimStatus = 0 // another worker holds the lease: nothing changed
	ClaimLeased  ClaimStatus = 1 // leased to the worker
	ClaimGone    ClaimStatus = 2 // no such job: the delivery was acknowledged
	ClaimIdle    ClaimStatus = 3 // final or awaiting approval: acknowledged, not leased
	ClaimStarted ClaimStatus = 4 // leased to the worker and moved to running
)

// Claimed is what Claim did with one delivery.
type Claimed struct {
	Status ClaimStatus
	Holder string // ClaimHeld: the worker that holds the lease
	State  string // ClaimIdle: the job's state
	// Record is the job's record as read after the claim, for
	// ClaimLeased and ClaimStarted.
	Record map[string]string
}

// Claim leases the jobs of ds for owner, for ttl, and with a non-zero
// start moves those that are queued or waiting, with no cancel recorded,
// to running, started at start (see claimScript). It reads the records of
// the jobs it leased in the same round trip: the script and the reads go
// in one pipeline, each read after the lease it depends on.
func (q *Queue) Claim(ctx context.Context, ds []Delivery, owner string, ttl time.Duration, start time.Time) ([]Claimed, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	startAt := ""
	if !start.IsZero() {
		startAt = strconv.FormatInt(start.UnixMilli(), 10)
	}
	args := make([]any, 0, 6+3*len(ds))
	args = append(args, q.k.Prefix(), workerGroup, owner, ttl.Milliseconds(), startAt, q.eventsKept)
	for _, d := range ds {
		args = append(args, d.Job, d.MsgID, q.stream(d))
	}
	keys := []string{q.k.Queue()}
	var claimed *redis.Cmd
	reads := make([]*redis.MapStringStringCmd, len(ds))
	send := func(claim func(pipe redis.Pipeliner) *redis.Cmd) error {
		pipe := q.r.Pipeline()
		claimed = claim(pipe)
		for i, d := range ds {
			reads[i] = pipe.HGetAll(ctx, q.k.Job(d.Job))
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := send(func(pipe redis.Pipeliner) *redis.Cmd { return claimScript.EvalSha(ctx, pipe, keys, args...) })
	if err != nil && noScript(claimed.Err()) {
		// Redis lost its scripts (it restarted): nothing was leased.
		err = send(func(pipe redis.Pipeliner) *redis.Cmd { return claimScript.Eval(ctx, pipe, keys, args...) })
	}
	if err != nil {
		return nil, err
	}
	res, err := claimed.Slice()
	if err != nil || len(res) != len(ds) {
		return nil, fmt.Errorf("unexpected reply %v (%v)", res, err)
	}
	out := make([]Claimed, len(ds))
	for i, d := range ds {
		r, _ := res[i].([]any)
		if len(r) == 0 {
			return nil, fmt.Errorf("job #%d: unexpected reply %v", d.Job, res[i])
		}
		st, _ := r[0].(int64)
		c := Claimed{Status: ClaimStatus(st)}
		switch c.Status {
		case ClaimHeld:
			c.Holder, _ = r[1].(string)
		case ClaimIdle:
			c.State, _ = r[1].(string)
		case ClaimLeased, ClaimStarted:
			c.Record = reads[i].Val()
		}
		out[i] = c
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

// Lease takes (or renews) the lease on job id for owner, for ttl. It
// returns false while another owner holds it.
func (q *Queue) Lease(ctx context.Context, id int64, owner string, ttl time.Duration) (bool, error) {
	n, err := acquireLeaseScript.Run(ctx, q.r, []string{q.k.Lease(id)}, owner, ttl.Milliseconds()).Int()
	return n == 1, err
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

// Unlease gives up owner's lease on job id; it reports whether owner held it.
func (q *Queue) Unlease(ctx context.Context, id int64, owner string) (bool, error) {
	n, err := releaseLeaseScript.Run(ctx, q.r, []string{q.k.Lease(id)}, owner).Int()
	return n == 1, err
}

// LeaseHolder names the owner of job id's lease, "" when none.
func (q *Queue) LeaseHolder(ctx context.Context, id int64) (string, error) {
	v, err := q.r.Get(ctx, q.k.Lease(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

// renewScript renews the leases of a worker's running jobs, keeps their
// deliveries from being reclaimed, and reads their cancels, in one step.
//
//	KEYS[1] the typed class's queue stream (every other key is built from
//	        ARGV[1] or named in ARGV; all share its hash tag)
//	ARGV[1] the key prefix, ARGV[2] the queue's consumer group,
//	ARGV[3] the worker (lease owner), ARGV[4] the lease's TTL in ms,
//	ARGV[5], ARGV[6], ARGV[7], … triples of job number, delivery id and
//	        the stream the delivery is on
//
// It replies with one entry per triple, in order:
//
//	{0, holder}  another worker holds the lease: nothing is changed
//	{1}          renewed (or taken again, if it had lapsed and no one took
//	             it), and the delivery's idle time reset
//	{1, by}      the same, and a cancel by "by" is recorded on the job
var renewScript = redis.NewScript(`
local out = {}
for i = 5, #ARGV, 3 do
  local id, msg, stream = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local lk = ARGV[1] .. 'lease:' .. id
  local cur = redis.call('GET', lk)
  if cur and cur ~= ARGV[3] then
    out[#out + 1] = {0, cur}
  else
    redis.call('SET', lk, ARGV[3], 'PX', ARGV[4])
    redis.call('XCLAIM', stream, ARGV[2], ARGV[3], 0, msg, 'JUSTID')
    local by = redis.call('HGET', ARGV[1] .. 'job:' .. id, 'cancel_by')
    if by then out[#out + 1] = {1, by} else out[#out + 1] = {1} end
  end
end
return out
`)

// Renewed is what renewing one lease found.
type Renewed struct {
	Lost      bool   // another worker holds the lease: nothing changed
	Holder    string // that worker
	Cancelled bool   // a cancel is recorded on the job
	CancelBy  string // by whom
}

// Renew renews owner's leases on the jobs of ds for ttl, keeps their
// deliveries from being reclaimed and reads their cancels, in one round
// trip (see renewScript). A lease another owner holds is left alone and
// reported lost.
func (q *Queue) Renew(ctx context.Context, ds []Delivery, owner string, ttl time.Duration) ([]Renewed, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	args := make([]any, 0, 4+3*len(ds))
	args = append(args, q.k.Prefix(), workerGroup, owner, ttl.Milliseconds())
	for _, d := range ds {
		args = append(args, d.Job, d.MsgID, q.stream(d))
	}
	res, err := renewScript.Run(ctx, q.r, []string{q.k.Queue()}, args...).Slice()
	if err != nil {
		return nil, err
	}
	if len(res) != len(ds) {
		return nil, fmt.Errorf("%d replies", len(res))
	}
	out := make([]Renewed, len(ds))
	for i := range ds {
		r, _ := res[i].([]any)
		if len(r) == 0 {
			return nil, fmt.Errorf("job #%d: unexpected reply %v", ds[i].Job, res[i])
		}
		ok, _ := r[0].(int64)
		var s string
		if len(r) > 1 {
			s, _ = r[1].(string)
		}
		switch {
		case ok == 0:
			out[i] = Renewed{Lost: true, Holder: s}
		case len(r) > 1:
			out[i] = Renewed{Cancelled: true, CancelBy: s}
		}
	}
	return out, nil
}
