package rdb

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Schedule is the hash that says how far schedule name has run:
//
//	{gantry}:schedule:NAME  hash  tick: the latest tick taken (Unix ms);
//	                              job: the job that tick started;
//	                              note, at: why a tick started nothing, when
//
// It is one small hash per configured schedule, kept for good.
func (k Keys) Schedule(name string) string { return k.p + "schedule:" + name }

// Schedules keeps how far each schedule has run, so that each tick runs
// once across every process that shares the Redis.
type Schedules struct {
	c *Client
	k Keys
}

// NewSchedules returns the schedules' store in namespace ns ("" is gantry).
func NewSchedules(c *Client, ns string) *Schedules { return &Schedules{c: c, k: NewKeys(ns)} }

// ScheduleState is what the hash of one schedule holds.
type ScheduleState struct {
	Tick time.Time // the latest tick taken; zero: the schedule was never seen
	Job  int64     // the job that tick started; 0: none
	Note string    // why the latest tick started nothing ("" when it did)
	At   time.Time // when Note was written
}

// State reads schedule name's hash.
func (s *Schedules) State(ctx context.Context, name string) (ScheduleState, error) {
	m, err := s.c.r.HGetAll(ctx, s.k.Schedule(name)).Result()
	if err != nil {
		return ScheduleState{}, err
	}
	var st ScheduleState
	if v, err := strconv.ParseInt(m["tick"], 10, 64); err == nil {
		st.Tick = time.UnixMilli(v)
	}
	st.Job, _ = strconv.ParseInt(m["job"], 10, 64)
	st.Note = m["note"]
	if v, err := strconv.ParseInt(m["at"], 10, 64); err == nil {
		st.At = time.UnixMilli(v)
	}
	return st, nil
}

// Begin starts counting ticks of a schedule seen for the first time from
// now: the ticks before it are not missed ticks. It does nothing to a
// schedule already seen.
func (s *Schedules) Begin(ctx context.Context, name string, now time.Time) error {
	return s.c.r.HSetNX(ctx, s.k.Schedule(name), "tick", now.UnixMilli()).Err()
}

// takeTickScript takes one tick of a schedule for the caller:
//
//	KEYS[1] the schedule's hash
//	ARGV[1] the tick (Unix ms)
//
// It returns 1 when the hash's tick was earlier (the tick is now the
// caller's: the hash says so, and its job and note are cleared) and 0 when
// another process took this tick or a later one, or the schedule was never
// begun.
var takeTickScript = redis.NewScript(`
local last = redis.call('HGET', KEYS[1], 'tick')
if not last or tonumber(last) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'tick', ARGV[1])
redis.call('HDEL', KEYS[1], 'job', 'note', 'at')
return 1
`)

// Take claims tick for this process: true means no other process has
// taken it or a later one, and the caller must run it.
func (s *Schedules) Take(ctx context.Context, name string, tick time.Time) (bool, error) {
	n, err := takeTickScript.Run(ctx, s.c.r, []string{s.k.Schedule(name)}, tick.UnixMilli()).Int()
	return n == 1, err
}

// Started records the job the latest tick started.
func (s *Schedules) Started(ctx context.Context, name string, job int64) error {
	return s.c.r.HSet(ctx, s.k.Schedule(name), "job", job).Err()
}

// Skipped records why the latest tick started nothing, keeping the job of
// the tick before it (the one still running, when that is why).
func (s *Schedules) Skipped(ctx context.Context, name string, job int64, note string, at time.Time) error {
	return s.c.r.HSet(ctx, s.k.Schedule(name), "job", job, "note", note, "at", at.UnixMilli()).Err()
}
