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

	"github.com/gantry-ci/gantry/say"
)

// Store keeps job records, announces their transitions and feeds the queue.
// Every change that touches more than one key is a single Lua script.
type Store struct {
	rdb   redis.UniversalClient
	keys  rdb.Keys
	now   func() time.Time
	batch *groupCommit

	eventsMaxLen  int64
	writeRetryFor time.Duration
	retention     time.Duration
}

// DefaultRetention is how long a finished job's record is kept.
const DefaultRetention = 90 * 24 * time.Hour

// StoreConfig configures a Store. Zero values are the defaults.
type StoreConfig struct {
	Namespace    string           // key namespace; "" is "gantry"
	Now          func() time.Time // clock; nil is time.Now
	EventsMaxLen int64            // events kept for late readers; 0 is 100,000
	// WriteRetryFor is how long a record write is tried again while Redis
	// cannot be reached; 0 is 2 minutes.
	WriteRetryFor time.Duration
	// Retention is how long a job's record, its place in the list of
	// recent jobs and the index of its message are kept after it ends;
	// 0 is DefaultRetention.
	Retention time.Duration
}

// NewStore returns a Store on rdb.
func NewStore(r redis.UniversalClient, cfg StoreConfig) *Store {
	s := &Store{rdb: r, keys: rdb.NewKeys(cfg.Namespace), now: cfg.Now, batch: &groupCommit{rdb: r},
		eventsMaxLen: cfg.EventsMaxLen, writeRetryFor: cfg.WriteRetryFor, retention: cfg.Retention}
	if s.retention <= 0 {
		s.retention = DefaultRetention
	}
	if s.writeRetryFor <= 0 {
		s.writeRetryFor = 2 * time.Minute
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.eventsMaxLen == 0 {
		s.eventsMaxLen = 100_000
	}
	return s
}

// Keys returns the key builder, for packages that keep their own keys beside
// the jobs' (pools, approvals) in the same hash slot.
func (s *Store) Keys() rdb.Keys { return s.keys }

// Redis returns the client the store uses.
func (s *Store) Redis() redis.UniversalClient { return s.rdb }

// Now is the store's clock.
func (s *Store) Now() time.Time { return s.now() }

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
// person's list of jobs keep their newest 100.
var createScript = redis.NewScript(`
local id = redis.call('INCR', KEYS[1])
local jk = ARGV[1] .. 'job:' .. id
redis.call('HSET', jk, 'id', id, 'state', ARGV[2], unpack(ARGV, 9))
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[8])
if ARGV[7] ~= '' then
  local dk = ARGV[1] .. 'deploys:' .. ARGV[7]
  redis.call('LPUSH', dk, id)
  redis.call('LTRIM', dk, 0, 99)
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

// Create numbers the job, writes its record and, when its state is Queued,
// puts it on the queue; all at once. j.ID, j.Created and j.Attempt are set.
func (s *Store) Create(ctx context.Context, j *Job) error {
	if j.State == "" {
		j.State = Queued
	}
	if j.State != Queued && j.State != AwaitingApproval {
		return fmt.Errorf("create job in state %s: a new job is queued or awaiting_approval", j.State)
	}
	if j.Created.IsZero() {
		j.Created = s.now()
	}
	if j.Attempt == 0 {
		j.Attempt = 1
	}
	f, err := j.fields()
	if err != nil {
		return err
	}
	f = nonEmpty(f)
	k := s.keys
	env := ""
	if j.Kind == Deploy {
		env = j.Env
	}
	// Jobs created before the retention are no longer listed as recent.
	oldest := s.now().Add(-s.retention).UnixMilli()
	args := append([]any{k.Prefix(), string(j.State), j.Created.UnixMilli(), j.Requester, "", s.eventsMaxLen, env, oldest}, f...)
	id, err := s.batch.run(ctx, createScript, []string{k.Seq(), k.Active(), k.Recent(), k.Queue(), k.Events()}, args...).Int64()
	if err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	j.ID = id
	return nil
}

// nonEmpty drops the fields whose value is "" from name/value pairs: a
// field missing from the record reads as "", and the record is smaller to
// write and to read.
func nonEmpty(f []any) []any {
	out := f[:0]
	for i := 0; i+1 < len(f); i += 2 {
		if v, ok := f[i+1].(string); ok && v == "" {
			continue
		}
		out = append(out, f[i], f[i+1])
	}
	return out
}

// Get reads job id.
func (s *Store) Get(ctx context.Context, id int64) (*Job, error) {
	m, err := s.rdb.HGetAll(ctx, s.keys.Job(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("read job #%d: %w", id, err)
	}
	return decodeJob(id, m)
}

// transitionLua defines transition(first), which moves a job and returns
// {1, previous state}, or {0, state} when the job is in a state it may not
// move from, or {0, ""} (an empty string) when there is no such job.
//
//	KEYS[1] job hash, KEYS[2] active, KEYS[3] events, KEYS[4] queue,
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
// The dead-letter list keeps the newest 10,000 job numbers.
const transitionLua = `
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
  end
  if ARGV[4] == 'now' then
    redis.call('XADD', KEYS[4], '*', 'job', ARGV[1])
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
//	KEYS[8] the job's lease
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
  redis.call('XACK', KEYS[4], ARGV[15], ARGV[16])
end
if redis.call('GET', KEYS[8]) == ARGV[17] then redis.call('DEL', KEYS[8]) end
return res
`)

// Change is one transition of a job's state.
type Change struct {
	From []State // states it may move from; empty: any state that is not final
	To   State
	Set  Fields   // further fields of the record to write
	Type string   // the event's type; "" is "state"
	Text say.Text // a sentence for the thread, e.g. "retrying in 10s (attempt 2 of 3)"
	// Enqueue puts the job on the queue now, or (with Due) when Due comes.
	Enqueue bool
	Due     time.Time
	// DeadLetter adds the job to the dead-letter list.
	DeadLetter bool
	// Audit, when set, is written to the audit log with the transition.
	Audit *AuditEntry
}

// ErrConflict says a transition was refused because the job had moved on.
var ErrConflict = errors.New("job is no longer in that state")

// Transition moves job id to c.To if it is in one of c.From, writing the
// record, the queue and the announcement in one step. It returns the state
// the job was in. A refused move returns ErrConflict and that state.
func (s *Store) Transition(ctx context.Context, id int64, c Change) (State, error) {
	return s.move(ctx, id, c, nil)
}

// runEnd is what a worker's run of a job gives back with its last
// transition: the delivery, acknowledged, and the lease of owner.
type runEnd struct {
	d     Delivery
	owner string
}

// move is Transition, and with end the end of a run too (finishScript).
func (s *Store) move(ctx context.Context, id int64, c Change, end *runEnd) (State, error) {
	from := make([]string, len(c.From))
	for i, st := range c.From {
		from[i] = string(st)
	}
	enq := ""
	switch {
	case !c.Due.IsZero():
		enq = strconv.FormatInt(c.Due.UnixMilli(), 10)
	case c.Enqueue:
		enq = "now"
	}
	typ := c.Type
	if typ == "" {
		typ = "state"
	}
	set := c.Set
	if c.To.Final() && !set.has("finished") {
		set = set.Finished(s.now())
	}
	k := s.keys
	dead := "0"
	if c.DeadLetter {
		dead = "1"
	}
	args := []any{id, strings.Join(from, ","), string(c.To), enq, s.eventsMaxLen, typ, c.Text, dead}
	if a := c.Audit; a != nil {
		args = append(args, a.Who, a.Action, a.Env, a.Detail, s.now().UnixMilli())
	} else {
		args = append(args, "", "", "", "", "")
	}
	args = append(args, s.retention.Milliseconds())
	keys := []string{k.Job(id), k.Active(), k.Events(), k.Queue(), k.Scheduled(), k.Dead(), k.Audit()}
	script := transitionScript
	if end != nil {
		script = finishScript
		keys = append(keys, k.Lease(id))
		args = append(args, workerGroup, end.d.MsgID, end.owner)
	}
	args = append(args, set.args()...)
	var res []any
	retried := false
	err := s.retryWrite(ctx, func(attempt int) error {
		retried = attempt > 1
		var err error
		res, err = s.batch.run(ctx, script, keys, args...).Slice()
		return err
	})
	if err != nil {
		return "", fmt.Errorf("move job #%d to %s: %w", id, c.To, err)
	}
	ok, _ := res[0].(int64)
	prev, _ := res[1].(string)
	if prev == "" && ok == 0 {
		return "", fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	if ok == 0 && retried && prev == string(c.To) && len(c.From) == 1 {
		// An earlier try landed and only its answer was lost.
		return c.From[0], nil
	}
	if ok == 0 {
		return State(prev), fmt.Errorf("move job #%d from %s to %s: %w", id, prev, c.To, ErrConflict)
	}
	return State(prev), nil
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

// Update writes fields of job id without changing its state. With a
// non-empty event type it also announces the change (e.g. "step").
func (s *Store) Update(ctx context.Context, id int64, eventType string, text say.Text, set Fields) error {
	if set.empty() {
		return fmt.Errorf("update job #%d: no field to write", id)
	}
	k := s.keys
	args := append([]any{id, eventType, text, s.eventsMaxLen}, set.args()...)
	var n int
	err := s.retryWrite(ctx, func(int) error {
		var err error
		n, err = s.batch.run(ctx, updateScript, []string{k.Job(id), k.Events()}, args...).Int()
		return err
	})
	if err != nil {
		return fmt.Errorf("update job #%d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	return nil
}

// Announce adds an event about job id without changing it.
func (s *Store) Announce(ctx context.Context, id int64, eventType string, text say.Text) error {
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	err = s.retryWrite(ctx, func(int) error {
		return s.rdb.XAdd(ctx, &redis.XAddArgs{
			Stream: s.keys.Events(), MaxLen: s.eventsMaxLen, Approx: true,
			Values: []any{"job", id, "type", eventType, "state", string(j.State), "text", text},
		}).Err()
	})
	if err != nil {
		return fmt.Errorf("announce job #%d: %w", id, err)
	}
	return nil
}

// Active returns the jobs that are not yet final, oldest first.
func (s *Store) Active(ctx context.Context) ([]*Job, error) {
	ids, err := s.rdb.ZRange(ctx, s.keys.Active(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list active jobs: %w", err)
	}
	return s.getAll(ctx, ids)
}

// ActiveBy counts the active jobs that user requested (the last request
// of each: a retry counts for whoever retried).
func (s *Store) ActiveBy(ctx context.Context, user string) (int, error) {
	active, err := s.Active(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range active {
		if j.Requester == user {
			n++
		}
	}
	return n, nil
}

// Recent returns up to n of the newest jobs, newest first.
func (s *Store) Recent(ctx context.Context, n int64) ([]*Job, error) {
	ids, err := s.rdb.ZRevRange(ctx, s.keys.Recent(), 0, n-1).Result()
	if err != nil {
		return nil, fmt.Errorf("list recent jobs: %w", err)
	}
	return s.getAll(ctx, ids)
}

// Latest returns the newest job that user asked for.
func (s *Store) Latest(ctx context.Context, user string) (*Job, error) {
	id, err := s.rdb.LIndex(ctx, s.keys.User(user), 0).Int64()
	if errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("no jobs of yours yet: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("find latest job of %s: %w", user, err)
	}
	return s.Get(ctx, id)
}

// DeadLetters returns the dead-lettered job numbers, newest first.
func (s *Store) DeadLetters(ctx context.Context) ([]int64, error) {
	vals, err := s.rdb.LRange(ctx, s.keys.Dead(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list dead letters: %w", err)
	}
	ids := make([]int64, 0, len(vals))
	for _, v := range vals {
		id, _ := strconv.ParseInt(v, 10, 64)
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *Store) getAll(ctx context.Context, ids []string) ([]*Job, error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, v := range ids {
		id, _ := strconv.ParseInt(v, 10, 64)
		cmds[i] = pipe.HGetAll(ctx, s.keys.Job(id))
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read jobs: %w", err)
	}
	out := make([]*Job, 0, len(ids))
	for i, v := range ids {
		id, _ := strconv.ParseInt(v, 10, 64)
		j, err := decodeJob(id, cmds[i].Val())
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// setThreadScript records where a job's message is.
//
//	KEYS[1] the job record, KEYS[2] the message index (channel and ts)
//	ARGV[1] the message's ts, ARGV[2] the job number, ARGV[3] how long the
//	index is kept (ms)
//
// It returns 0 when there is no such job (nothing written), else 1.
var setThreadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'thread_ts', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`)

// SetThread records that job id's message is at channel/ts: its thread, and
// the index by which reactions and buttons on that message find the job.
func (s *Store) SetThread(ctx context.Context, id int64, channel, ts string) error {
	keep := s.retention.Milliseconds()
	n, err := setThreadScript.Run(ctx, s.rdb, []string{s.keys.Job(id), s.keys.Message(channel, ts)}, ts, id, keep).Int()
	if err != nil {
		return fmt.Errorf("record thread of job #%d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	return nil
}

// JobByMessage finds the job whose message is at channel/ts.
func (s *Store) JobByMessage(ctx context.Context, channel, ts string) (int64, error) {
	id, err := s.rdb.Get(ctx, s.keys.Message(channel, ts)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("no job message at %s/%s: %w", channel, ts, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("find job of message %s/%s: %w", channel, ts, err)
	}
	return id, nil
}

// FirstSeen records a delivery id (a Slack trigger_id or event_id, a GitHub
// delivery) for ttl and reports whether this is the first time it was seen.
// The record lives in Redis, so it holds across restarts and processes.
func (s *Store) FirstSeen(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.Seen(id), "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("record delivery %s: %w", id, err)
	}
	return ok, nil
}

// Forget removes the record of delivery id, so that it counts as unseen
// again (its handling failed and should be done again).
func (s *Store) Forget(ctx context.Context, id string) error {
	if err := s.rdb.Del(ctx, s.keys.Seen(id)).Err(); err != nil {
		return fmt.Errorf("forget delivery %s: %w", id, err)
	}
	return nil
}
