package rdb_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

// fixture is the Redis layer on a Redis of its own, with a raw client to
// look at what the scripts left.
type fixture struct {
	c   *rdb.Client
	raw *redis.Client
	k   rdb.Keys
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	srv := redistest.Start(t)
	return &fixture{c: srv.RDB(), raw: srv.Client(), k: rdb.NewKeys("")}
}

var ctx = context.Background()

// hash reads a hash.
func (f *fixture) hash(t *testing.T, key string) map[string]string {
	t.Helper()
	m, err := f.raw.HGetAll(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// get reads a string; "" when there is none.
func (f *fixture) get(t *testing.T, key string) string {
	t.Helper()
	v, err := f.raw.Get(ctx, key).Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return v
}

// stream reads a whole stream as its entries' values.
func (f *fixture) stream(t *testing.T, key string) []map[string]any {
	t.Helper()
	msgs, err := f.raw.XRange(ctx, key, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		out[i] = m.Values
	}
	return out
}

// pending is how many deliveries of the queue are not acknowledged.
func (f *fixture) pending(t *testing.T) int64 {
	t.Helper()
	p, err := f.raw.XPending(ctx, f.k.Queue(), "workers").Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

// job writes a record as it stands.
func (f *fixture) job(t *testing.T, id int64, fields ...string) {
	t.Helper()
	args := []any{"id", id}
	for _, v := range fields {
		args = append(args, v)
	}
	if err := f.raw.HSet(ctx, f.k.Job(id), args...).Err(); err != nil {
		t.Fatal(err)
	}
}

func redisZ(at time.Time, member string) redis.Z {
	return redis.Z{Score: float64(at.UnixMilli()), Member: member}
}

func redisXAdd(stream string, id int64) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: stream, Values: []any{"job", id}}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
