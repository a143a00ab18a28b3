package rdb

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Records keeps job records (hashes of name/value fields), the lists that
// find them (active, recent, a person's, an environment's deploys, the dead
// letters) and the announcement of every change on the events stream. The
// scripts that create, move and update jobs go through a group commit (see
// batch.go).
type Records struct {
	r          redis.UniversalClient
	k          Keys
	batch      *groupCommit
	eventsKept int64
	keep       time.Duration
}

// NewRecords returns the records of namespace k. eventsKept is the events
// stream's approximate length; keep is how long a record lives once its
// job is final.
func NewRecords(c *Client, k Keys, eventsKept int64, keep time.Duration) *Records {
	return &Records{r: c.r, k: k, batch: &groupCommit{r: c.r}, eventsKept: eventsKept, keep: keep}
}

// createScript numbers a job and writes it, all at once:
//
//	KEYS[1] seq, KEYS[2] active, KEYS[3] recent, KEYS[4] queue, KEYS[5] events
//	ARGV[1] the key prefix (for the job's own keys), ARGV[2] its state,
//	ARGV[3] its creation time (Unix ms), ARGV[4] the requester ("" none),
//	ARGV[5] the event text, ARGV[6] events kept, ARGV[7] the environment
//	of a deploy ("" for a build), ARGV[8] the oldest creation time the
//	recent list keeps (Unix ms), ARGV[9..] the record's fields as
//	name/value pairs
//
// It returns the job's number. The deploys list of an environment and a
// person's list of jobs keep their newest 100; a deploy's environment
// joins the set of environment names (Keys.EnvNames).
var createScript = redis.NewScript(`
local id = redis.call('INCR', KEYS[1])
local jk = ARGV[1] .. 'job:' .. id
redis.call('HSET', jk, 'id', id, 'state', ARGV[2], unpack(ARGV, 9))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[8])
if ARGV[7] ~= '' then
  local dk = ARGV[1] .. 'deploys:' .. ARGV[7]
  redis.call('LPUSH', dk, id)
  redis.call('LTRIM', dk, 0, 99)
  redis.call('SADD', ARGV[1] .. 'envs', ARGV[7])
end
redis.call('ZADD', KEYS[2], id, id)
redis.call('ZADD', KEYS[3], ARGV[3], id)
if ARGV[4] ~= '' then
  local uk = ARGV[1] .. 'user:' .. ARGV[4]
  redis.call('LPUSH', uk, id)
  redis.call('LTRIM', uk, 0, 99)
end
if ARGV[2] == 'queued' then
  redis.call('XADD', KEYS[4], '*', 'job', id)
end
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[6], '*', 'job', id, 'type', 'state', 'state', ARGV[2], 'text', ARGV[5])
return id
`)

// NewJob is a job record to create.
type NewJob struct {
	State     string    // "queued" also puts it on the queue
	Created   time.Time // its place in the recent list
	Requester string    // whose list of jobs it joins; "" none
	Env       string    // the environment whose deploys it joins; "" none
	// Since is the oldest creation time the recent list keeps: older
	// jobs leave it.
	Since  time.Time
	Class  string   // its class (Classes): which stream it is queued on
	Fields []string // the record, as name/value pairs
}

// Create numbers the job, writes its record and lists, puts a queued job
// on the queue and announces it, in one step; it returns the number.
func (r *Records) Create(ctx context.Context, j NewJob) (int64, error) {
	k := r.k
	args := make([]any, 0, 8+len(j.Fields))
	args = append(args, k.Prefix(), j.State, j.Created.UnixMilli(), j.Requester, "", r.eventsKept, j.Env, j.Since.UnixMilli())
	args = pairs(args, j.Fields)
	return r.batch.run(ctx, createScript, []string{k.Seq(), k.Active(), k.Recent(), k.QueueOf(j.Class), k.Events()}, args...).Int64()
}

// Get reads job id's record; empty when there is no such job.
func (r *Records) Get(ctx context.Context, id int64) (map[string]string, error) {
	return r.r.HGetAll(ctx, r.k.Job(id)).Result()
}

// GetAll reads the records of ids in one round trip, in order; an empty
// record is a job that is gone.
func (r *Records) GetAll(ctx context.Context, ids []int64) ([]map[string]string, error) {
	pipe := r.r.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, r.k.Job(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	out := make([]map[string]string, len(ids))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// transitionLua defines transition(first), which moves a job and returns
// {1, previous state}, or {0, state} when the job is in a state it may not
// move from, or {0, ""} (an empty string) when there is no such job.
//
//	KEYS[1] job hash, KEYS[2] active, KEYS[3] events, KEYS[4] the typed
//	class's queue stream (a job is queued on its class's stream,
//	queueOf(KEYS[4], its class field), in the same hash slot),
//	KEYS[5] scheduled, KEYS[6] dead, KEYS[7] audit
//	ARGV[1] job number, ARGV[2] states it may move from, comma-separated
//	        ("" is any state that is not final), ARGV[3] the new state,
//	ARGV[4] "now" to queue it, a due time (Unix ms) to schedule it, or "",
//	ARGV[5] events kept, ARGV[6] event type, ARGV[7] event text,
//	ARGV[8] "1" to dead-letter it, ARGV[9..13] audit who, action, env,
//	        detail, at ("" who: no audit entry),
//	ARGV[14] how long the record is kept once the job is final (ms),
//	ARGV[first..] further fields to set, as name/value pairs.
//
// The dead-letter list keeps the newest 10,000 job numbers; KEYS[6] ..
// ":total" (Keys.DeadTotal) counts every one, for the metric.
const transitionLua = queueOfLua + `
local function transition(first)
  local cur = redis.call('HGET', KEYS[1], 'state')
  if not cur then return {0, ''} end
  local final = {succeeded=true, failed=true, cancelled=true, errored=true}
  local allowed = false
  if ARGV[2] == '' then
    allowed = not final[cur]
  else
    for st in string.gmatch(ARGV[2], '[^,]+') do
      if st == cur then allowed = true end
    end
  end
  if not allowed then return {0, cur} end
  redis.call('HSET', KEYS[1], 'state', ARGV[3], unpack(ARGV, first))
  if ARGV[9] ~= '' then
    redis.call('XADD', KEYS[7], 'MAXLEN', '~', '100000', '*', 'who', ARGV[9], 'action', ARGV[10], 'env', ARGV[11], 'job', ARGV[1], 'detail', ARGV[12], 'at', ARGV[13])
  end
  if final[ARGV[3]] then
    redis.call('ZREM', KEYS[2], ARGV[1])
    redis.call('PEXPIRE', KEYS[1], ARGV[14])
  end
  if ARGV[8] == '1' then
    redis.call('LPUSH', KEYS[6], ARGV[1])
    redis.call('LTRIM', KEYS[6], 0, 9999)
    redis.call('INCR', KEYS[6] .. ':total')
  end
  if ARGV[4] == 'now' then
    redis.call('XADD', queueOf(KEYS[4], redis.call('HGET', KEYS[1], 'class')), '*', 'job', ARGV[1])
  elseif ARGV[4] ~= '' then
    redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1])
  end
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'job', ARGV[1], 'type', ARGV[6], 'state', ARGV[3], 'text', ARGV[7])
  return {1, cur}
end
`

// transitionScript moves a job: KEYS and ARGV as transitionLua says, the
// fields to set from ARGV[15].
var transitionScript = redis.NewScript(transitionLua + `return transition(15)`)

// finishScript is a run's last transition, and the end of the run in the
// queue, in one step. KEYS[1..7] and ARGV[1..14] as transitionLua says;
// further:
//
//	KEYS[8] the job's lease, KEYS[9] the stream the delivery is on
//	ARGV[15] the queue's consumer group, ARGV[16] the delivery's stream id,
//	ARGV[17] the worker (lease owner), ARGV[18..] fields to set
//
// When the job exists, the delivery is acknowledged (Queue.Trim removes
// it later), whether the move was made or refused (the job moved on
// without this run); the worker's lease goes either way. The reply is
// transition's.
var finishScript = redis.NewScript(transitionLua + `
local res = transition(18)
if res[2] ~= '' then
  redis.call('XACK', KEYS[9], ARGV[15], ARGV[16])
end
if redis.call('GET', KEYS[8]) == ARGV[17] then redis.call('DEL', KEYS[8]) end
return res
`)

// Move is one transition of a job's record.
type Move struct {
	From []string // states it may move from; empty: any state that is not final
	To   string
	// Enqueue puts the job on the queue now, or (with Due) when Due comes.
	Enqueue bool
	Due     time.Time
	Type    string // the event's type
	Text    string // the event's text
	// DeadLetter adds the job to the dead-letter list.
	DeadLetter bool
	// Audit, when set, is written to the audit stream with the move (its
	// Job is the moved job).
	Audit *AuditEntry
	Set   []string // further fields to write, as name/value pairs
}

// Moved is what a transition found: whether it moved the job, and the
// state the job was in ("" when there is no such job).
type Moved struct {
	OK   bool
	Prev string
}

// Transition moves job id as m says, if it is in one of m.From, writing
// the record, the queue, the lists and the announcement in one step.
func (r *Records) Transition(ctx context.Context, id int64, m Move) (Moved, error) {
	keys, args := r.moveArgs(id, m)
	args = pairs(args, m.Set)
	return moved(r.batch.run(ctx, transitionScript, keys, args...))
}

// Finish is Transition for a worker's run's last move, which also
// acknowledges the run's delivery d (when the job exists) and deletes
// owner's lease on the job (only owner's), in the same step.
func (r *Records) Finish(ctx context.Context, id int64, m Move, d Delivery, owner string) (Moved, error) {
	keys, args := r.moveArgs(id, m)
	stream := d.Stream
	if stream == "" {
		stream = r.k.Queue()
	}
	keys = append(keys, r.k.Lease(id), stream)
	args = append(args, workerGroup, d.MsgID, owner)
	args = pairs(args, m.Set)
	return moved(r.batch.run(ctx, finishScript, keys, args...))
}

// moveArgs are transitionLua's KEYS and ARGV[1..14].
func (r *Records) moveArgs(id int64, m Move) ([]string, []any) {
	enq := ""
	switch {
	case !m.Due.IsZero():
		enq = strconv.FormatInt(m.Due.UnixMilli(), 10)
	case m.Enqueue:
		enq = "now"
	}
	dead := "0"
	if m.DeadLetter {
		dead = "1"
	}
	args := make([]any, 0, 17+len(m.Set))
	args = append(args, id, strings.Join(m.From, ","), m.To, enq, r.eventsKept, m.Type, m.Text, dead)
	if a := m.Audit; a != nil {
		args = append(args, a.Who, a.Action, a.Env, a.Detail, a.At.UnixMilli())
	} else {
		args = append(args, "", "", "", "", "")
	}
	args = append(args, r.keep.Milliseconds())
	k := r.k
	return []string{k.Job(id), k.Active(), k.Events(), k.Queue(), k.Scheduled(), k.Dead(), k.Audit()}, args
}

func moved(cmd *redis.Cmd) (Moved, error) {
	res, err := cmd.Slice()
	if err != nil {
		return Moved{}, err
	}
	if len(res) != 2 {
		return Moved{}, fmt.Errorf("unexpected reply %v", res)
	}
	ok, _ := res[0].(int64)
	prev, _ := res[1].(string)
	return Moved{OK: ok == 1, Prev: prev}, nil
}

// updateScript writes fields of a job without moving it.
//
//	KEYS[1] the job record, KEYS[2] the events stream
//	ARGV[1] the job number, ARGV[2] the event type ("" announces nothing),
//	ARGV[3] the event text, ARGV[4] events kept, ARGV[5..] fields as
//	name/value pairs
//
// It returns 0 when there is no such job (nothing written), else 1.
var updateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
if ARGV[2] ~= '' then
  local st = redis.call('HGET', KEYS[1], 'state')
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], '*', 'job', ARGV[1], 'type', ARGV[2], 'state', st, 'text', ARGV[3])
end
return 1
`)

// Update writes fields (name/value pairs) of job id without moving it,
// and with a non-empty event type announces it. It reports false when
// there is no such job.
func (r *Records) Update(ctx context.Context, id int64, eventType, text string, fields []string) (bool, error) {
	k := r.k
	args := pairs(append(make([]any, 0, 4+len(fields)), id, eventType, text, r.eventsKept), fields)
	n, err := r.batch.run(ctx, updateScript, []string{k.Job(id), k.Events()}, args...).Int()
	return n == 1, err
}

// Active is the numbers of the jobs not yet final, oldest first.
func (r *Records) Active(ctx context.Context) ([]int64, error) {
	ids, err := r.r.ZRange(ctx, r.k.Active(), 0, -1).Result()
	return ints(ids), err
}

// Recent is the numbers of up to n of the newest jobs, newest first.
func (r *Records) Recent(ctx context.Context, n int64) ([]int64, error) {
	ids, err := r.r.ZRevRange(ctx, r.k.Recent(), 0, n-1).Result()
	return ints(ids), err
}

// Latest is the number of the newest job user asked for; false when none.
func (r *Records) Latest(ctx context.Context, user string) (int64, bool, error) {
	id, err := r.r.LIndex(ctx, r.k.User(user), 0).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	return id, err == nil, err
}

// DeadTotal is how many jobs were ever dead-lettered.
func (r *Records) DeadTotal(ctx context.Context) (int64, error) {
	n, err := r.r.Get(ctx, r.k.DeadTotal()).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

// DeadLetters returns the dead-lettered job numbers, newest first.
func (r *Records) DeadLetters(ctx context.Context) ([]int64, error) {
	ids, err := r.r.LRange(ctx, r.k.Dead(), 0, -1).Result()
	return ints(ids), err
}

// listAfterScript returns up to ARGV[2] job numbers from the recent set,
// newest first, starting after job ARGV[1] (or at the newest when it is
// 0), or nil when ARGV[1] is not in the set. Looking the job up and
// reading on from it is one step, so jobs created meanwhile do not shift
// the page.
//
//	KEYS[1] the recent set
//	ARGV[1] the job to start after (0: the newest), ARGV[2] how many
var listAfterScript = redis.NewScript(`
local start = 0
if ARGV[1] ~= '0' then
  local r = redis.call('ZREVRANK', KEYS[1], ARGV[1])
  if not r then return false end
  start = r + 1
end
return redis.call('ZREVRANGE', KEYS[1], start, start + tonumber(ARGV[2]) - 1)
`)

// After is up to n job numbers of the recent list, newest first, after
// job after (0: from the newest). It reports false when after is not in
// the list.
func (r *Records) After(ctx context.Context, after int64, n int) ([]int64, bool, error) {
	ids, err := listAfterScript.Run(ctx, r.r, []string{r.k.Recent()}, after, n).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return ints(ids), true, nil
}
