package rdb_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

func newQueue(t *testing.T, f *fixture) *rdb.Queue {
	t.Helper()
	q := rdb.NewQueue(f.c, f.k, 1000)
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return q
}

// trimScript: entries acknowledged go, pending and undelivered ones stay;
// no stream or no group trims nothing.
func TestTrim(t *testing.T) {
	f := newFixture(t)
	q := rdb.NewQueue(f.c, f.k, 1000)
	if n, err := q.Trim(ctx); err != nil || n != 0 {
		t.Fatalf("trim of no stream: %d, %v", n, err)
	}
	f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), 1))
	if n, err := q.Trim(ctx); err != nil || n != 0 {
		t.Fatalf("trim without the group: %d, %v", n, err)
	}
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	for id := int64(2); id <= 300; id++ {
		f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), id))
	}
	ds, err := q.Take(ctx, "w1", 250, 0)
	if err != nil || len(ds) != 250 {
		t.Fatalf("take: %d, %v", len(ds), err)
	}
	for _, d := range ds[:200] {
		if err := q.Done(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	n, err := q.Trim(ctx)
	if err != nil || n <= 0 {
		t.Fatalf("trim: %d, %v; want entries removed", n, err)
	}
	left := f.raw.XLen(ctx, f.k.Queue()).Val()
	if left < 100 || left != 300-n {
		t.Fatalf("%d entries left after removing %d: want the 100 pending or undelivered kept", left, n)
	}
	rest, err := q.Take(ctx, "w1", 100, 0)
	if err != nil || len(rest) != 50 || rest[0].Job != 251 {
		t.Fatalf("the undelivered entries after a trim: %v, %v", rest, err)
	}
}

// requeueScript: the delivery acknowledged, a fresh one added, the
// worker's own lease gone but not another's.
func TestRequeue(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), 1))
	f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), 2))
	ds, _ := q.Take(ctx, "w1", 10, 0)
	f.raw.Set(ctx, f.k.Lease(1), "w1", time.Minute)
	f.raw.Set(ctx, f.k.Lease(2), "w2", time.Minute)
	for _, d := range ds {
		id, err := q.Requeue(ctx, d, "w1")
		if err != nil || id == "" {
			t.Fatalf("requeue: %q, %v", id, err)
		}
	}
	if n := f.pending(t); n != 0 {
		t.Errorf("%d deliveries pending after handing them back", n)
	}
	if f.get(t, f.k.Lease(1)) != "" {
		t.Error("the worker's own lease is still there")
	}
	if h := f.get(t, f.k.Lease(2)); h != "w2" {
		t.Errorf("another worker's lease is %q, want it kept", h)
	}
	again, err := q.Take(ctx, "w3", 10, 0)
	if err != nil || len(again) != 2 || again[0].Job != 1 || again[1].Job != 2 {
		t.Fatalf("the fresh deliveries: %v, %v", again, err)
	}
}

// promoteScript: what is due goes on the queue, the rest waits.
func TestPromote(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	f.raw.ZAdd(ctx, f.k.Scheduled(), redisZ(time.UnixMilli(1000), "1"), redisZ(time.UnixMilli(3000), "2"))
	if n, err := q.Promote(ctx, time.UnixMilli(2000)); err != nil || n != 1 {
		t.Fatalf("promote: %d, %v", n, err)
	}
	ds, _ := q.Take(ctx, "w1", 10, 0)
	if len(ds) != 1 || ds[0].Job != 1 {
		t.Fatalf("queue after the promotion: %v", ds)
	}
	if left := f.raw.ZRange(ctx, f.k.Scheduled(), 0, -1).Val(); len(left) != 1 || left[0] != "2" {
		t.Fatalf("still scheduled: %v", left)
	}
}
