package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// floor is what the floor measurement saw: the Redis commands a job's
// life makes through gantry's scripts, sent bare (no script, so nothing
// is atomic) in pipelines of floorBatch jobs from one connection. It is
// the least Redis CPU a job can cost while it keeps what the scripts keep
// (the record, the active, recent and per-person lists, the queue entry,
// three events, the lease), whatever the code around it.
type floor struct {
	Jobs     int
	RedisCPU time.Duration
}

const floorBatch = 100

// floor runs cfg.Jobs jobs' commands: per job, the create script's
// INCR, HSET of a real bench job's record, ZREMRANGEBYSCORE, 2 ZADD,
// LPUSH, LTRIM, XADD to the queue and to the events; a batch's
// XREADGROUP; the claim's GET and HMGET, SET of the lease, HSET and XADD
// of the start, and the worker's HGETALL; the finish's HGET, HSET, ZREM,
// PEXPIRE, XADD, XACK, GET and DEL.
func (b *bench) floor(ctx context.Context, cfg config) (floor, error) {
	// A real record, as Store.Create writes one.
	store := b.store(ctx)
	probe := b.job()
	if err := store.Create(ctx, probe); err != nil {
		return floor{}, err
	}
	rec, err := b.rdb.HGetAll(ctx, "{"+b.ns+"}:job:"+strconv.FormatInt(probe.ID, 10)).Result()
	if err != nil {
		return floor{}, err
	}
	record := make([]any, 0, 2*len(rec))
	for k, v := range rec {
		record = append(record, k, v)
	}

	p := "{" + b.ns + "}:floor:"
	queue, events := p+"queue", p+"events"
	if err := b.rdb.XGroupCreateMkStream(ctx, queue, "workers", "0").Err(); err != nil {
		return floor{}, err
	}
	ev := func(id int, state string) *redis.XAddArgs {
		return &redis.XAddArgs{Stream: events, MaxLen: 100000, Approx: true,
			Values: []any{"job", id, "type", "state", "state", state, "text", ""}}
	}
	exec := func(pipe redis.Pipeliner) error {
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		return nil
	}
	now := time.Now().UnixMilli()
	redis0 := redisCPU(ctx, b.rdb)
	for base := 1; base <= cfg.Jobs; base += floorBatch {
		ids := make([]int, 0, floorBatch)
		for id := base; id < base+floorBatch && id <= cfg.Jobs; id++ {
			ids = append(ids, id)
		}
		pipe := b.rdb.Pipeline()
		for _, id := range ids {
			jk := p + "job:" + strconv.Itoa(id)
			pipe.Incr(ctx, p+"seq")
			pipe.HSet(ctx, jk, record...)
			pipe.ZRemRangeByScore(ctx, p+"recent", "-inf", "("+strconv.FormatInt(now-3600_000, 10))
			pipe.ZAdd(ctx, p+"active", redis.Z{Score: float64(id), Member: id})
			pipe.ZAdd(ctx, p+"recent", redis.Z{Score: float64(now), Member: id})
			pipe.LPush(ctx, p+"user:U1", id)
			pipe.LTrim(ctx, p+"user:U1", 0, 99)
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: queue, Values: []any{"job", id}})
			pipe.XAdd(ctx, ev(id, "queued"))
		}
		if err := exec(pipe); err != nil {
			return floor{}, err
		}
		taken, err := b.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: "workers", Consumer: "w", Streams: []string{queue, ">"}, Count: int64(len(ids)),
		}).Result()
		if err != nil || len(taken) != 1 || len(taken[0].Messages) != len(ids) {
			return floor{}, fmt.Errorf("floor: took %v, want %d entries (%v)", taken, len(ids), err)
		}
		pipe = b.rdb.Pipeline()
		for _, id := range ids {
			jk, lk := p+"job:"+strconv.Itoa(id), p+"lease:"+strconv.Itoa(id)
			pipe.Get(ctx, lk)
			pipe.HMGet(ctx, jk, "state", "cancel_by", "started")
			pipe.Set(ctx, lk, "w", time.Minute)
			pipe.HSet(ctx, jk, "state", "running", "started", now)
			pipe.XAdd(ctx, ev(id, "running"))
			pipe.HGetAll(ctx, jk)
		}
		if err := exec(pipe); err != nil {
			return floor{}, err
		}
		pipe = b.rdb.Pipeline()
		for i, id := range ids {
			jk, lk := p+"job:"+strconv.Itoa(id), p+"lease:"+strconv.Itoa(id)
			pipe.HGet(ctx, jk, "state")
			pipe.HSet(ctx, jk, "state", "succeeded", "finished", now, "exit", 0)
			pipe.ZRem(ctx, p+"active", id)
			pipe.PExpire(ctx, jk, 7*24*time.Hour)
			pipe.XAdd(ctx, ev(id, "succeeded"))
			pipe.XAck(ctx, queue, "workers", taken[0].Messages[i].ID)
			pipe.Get(ctx, lk)
			pipe.Del(ctx, lk)
		}
		if err := exec(pipe); err != nil {
			return floor{}, err
		}
	}
	return floor{Jobs: cfg.Jobs, RedisCPU: redisCPU(ctx, b.rdb) - redis0}, nil
}
