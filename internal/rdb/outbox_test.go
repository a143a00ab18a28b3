package rdb_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

// These tests hold the outbox scripts (outbox.go) to their contracts.

func newOutbox(t *testing.T) (*rdb.Outbox, *redis.Client) {
	t.Helper()
	raw := redistest.Client(t)
	return rdb.NewOutbox(rdb.New(raw), ""), raw
}

func push(t *testing.T, o *rdb.Outbox, queue, item string, now time.Time, limit int64) bool {
	t.Helper()
	ok, err := o.Push(context.Background(), queue, []byte(item), now, limit)
	if err != nil {
		t.Fatalf("Push(%s, %s): %v", queue, item, err)
	}
	return ok
}

func depth(t *testing.T, o *rdb.Outbox) int64 {
	t.Helper()
	n, err := o.Depth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func dueAt(t *testing.T, raw *redis.Client, queue string) (time.Time, bool) {
	t.Helper()
	score, err := raw.ZScore(context.Background(), "{gantry}:github:outbox:due", queue).Result()
	if rdb.IsNil(err) {
		return time.Time{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return time.UnixMilli(int64(score)), true
}

func TestOutboxPushQueuesInOrderUntilFull(t *testing.T) {
	o, raw := newOutbox(t)
	ctx := context.Background()
	if n := depth(t, o); n != 0 {
		t.Fatalf("depth of a new outbox %d", n)
	}
	if !push(t, o, "q1", "a", t0, 3) || !push(t, o, "q1", "b", t0.Add(time.Second), 3) || !push(t, o, "q2", "c", t0.Add(2*time.Second), 3) {
		t.Fatal("a push below the limit was refused")
	}
	// A queue is due when its first report came, not its last.
	if at, ok := dueAt(t, raw, "q1"); !ok || !at.Equal(t0) {
		t.Fatalf("q1 due at %v (%v), want %v", at, ok, t0)
	}
	if push(t, o, "q3", "d", t0, 3) {
		t.Fatal("a push beyond the limit was accepted")
	}
	if n := depth(t, o); n != 3 {
		t.Fatalf("depth %d, want 3", n)
	}
	if _, ok := dueAt(t, raw, "q3"); ok || raw.Exists(ctx, "{gantry}:github:outbox:q:q3").Val() != 0 {
		t.Fatal("a refused push left its queue behind")
	}
	if got := raw.LRange(ctx, "{gantry}:github:outbox:q:q1", 0, -1).Val(); !cmp.Equal(got, []string{"a", "b"}) {
		t.Fatalf("q1 holds %v", got)
	}
	due, err := o.Due(ctx, t0.Add(time.Second), 10)
	if err != nil || !cmp.Equal(due, []string{"q1"}) {
		t.Fatalf("due at t0+1s: %v (%v)", due, err)
	}
	if at, ok, err := o.NextDue(ctx); err != nil || !ok || !at.Equal(t0) {
		t.Fatalf("NextDue = %v, %v, %v", at, ok, err)
	}
}

func TestOutboxClaimTakesTheLeaseOfADueQueue(t *testing.T) {
	o, raw := newOutbox(t)
	ctx := context.Background()
	push(t, o, "q", "first", t0, 10)
	push(t, o, "q", "second", t0, 10)
	if _, ok, err := o.Claim(ctx, "q", "early", t0.Add(-time.Millisecond), time.Minute); err != nil || ok {
		t.Fatalf("a claim before the queue is due: %v, %v", ok, err)
	}
	if _, ok, err := o.Claim(ctx, "none", "x", t0, time.Minute); err != nil || ok {
		t.Fatalf("a claim of a queue that is not there: %v, %v", ok, err)
	}
	head, ok, err := o.Claim(ctx, "q", "p1", t0, time.Minute)
	if err != nil || !ok || string(head) != "first" {
		t.Fatalf("claim = %q, %v, %v; want the first report", head, ok, err)
	}
	if got := raw.Get(ctx, "{gantry}:github:outbox:lease:q").Val(); got != "p1" {
		t.Fatalf("lease holds %q", got)
	}
	// While the lease lasts the queue is due at its end; no one else takes
	// it, even then, until the lease is gone.
	if at, _ := dueAt(t, raw, "q"); !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("while claimed, due at %v", at)
	}
	if _, ok, err := o.Claim(ctx, "q", "p2", t0.Add(2*time.Minute), time.Minute); err != nil || ok {
		t.Fatalf("a second claim while the lease lives: %v, %v", ok, err)
	}
	// A queue found empty leaves the due set.
	raw.ZAdd(ctx, "{gantry}:github:outbox:due", redis.Z{Score: float64(t0.UnixMilli()), Member: "empty"})
	if _, ok, err := o.Claim(ctx, "empty", "x", t0, time.Minute); err != nil || ok {
		t.Fatalf("claim of an empty queue: %v, %v", ok, err)
	}
	if _, ok := dueAt(t, raw, "empty"); ok {
		t.Fatal("an empty queue stayed due")
	}
}

// TestOutboxLeaseOfADeadHolderEnds: the lease is a Redis TTL, so a holder
// that never finishes holds the queue for one lease only.
func TestOutboxLeaseOfADeadHolderEnds(t *testing.T) {
	o, _ := newOutbox(t)
	ctx := context.Background()
	push(t, o, "q", "r", t0, 10)
	if _, ok, err := o.Claim(ctx, "q", "dies", t0, 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	later := t0.Add(time.Minute)
	deadline := time.Now().Add(10 * time.Second)
	for {
		head, ok, err := o.Claim(ctx, "q", "next", later, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if string(head) != "r" {
				t.Fatalf("taken over: %q", head)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the dead holder's lease never ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, err := o.Finish(ctx, "q", "dies", rdb.OutboxSent, later, time.Time{}, nil, ""); err != nil || ok {
		t.Fatalf("the dead holder's late finish: %v, %v; want refused", ok, err)
	}
}

func TestOutboxFinishRecordsTheOutcome(t *testing.T) {
	o, raw := newOutbox(t)
	ctx := context.Background()
	list := func() []string { return raw.LRange(ctx, "{gantry}:github:outbox:q:q", 0, -1).Val() }
	push(t, o, "q", "r1", t0, 10)
	push(t, o, "q", "r2", t0, 10)
	claim := func(token string, now time.Time) {
		t.Helper()
		if _, ok, err := o.Claim(ctx, "q", token, now, time.Minute); err != nil || !ok {
			t.Fatalf("claim %s: %v, %v", token, ok, err)
		}
	}
	claim("t1", t0)
	// Only the lease's holder may finish; a refusal changes nothing.
	if ok, err := o.Finish(ctx, "q", "other", rdb.OutboxSent, t0, time.Time{}, nil, ""); err != nil || ok {
		t.Fatalf("finish by another token: %v, %v", ok, err)
	}
	if !cmp.Equal(list(), []string{"r1", "r2"}) || depth(t, o) != 2 {
		t.Fatalf("a refused finish changed the queue: %v", list())
	}
	// retry: the report stays first, updated, due at next; the lease is given back.
	next := t0.Add(time.Hour)
	if ok, err := o.Finish(ctx, "q", "t1", rdb.OutboxRetry, t0, next, []byte("r1'"), ""); err != nil || !ok {
		t.Fatalf("retry: %v, %v", ok, err)
	}
	if at, _ := dueAt(t, raw, "q"); !cmp.Equal(list(), []string{"r1'", "r2"}) || depth(t, o) != 2 || !at.Equal(next) {
		t.Fatalf("after retry: %v, depth %d, due %v", list(), depth(t, o), at)
	}
	if raw.Exists(ctx, "{gantry}:github:outbox:lease:q").Val() != 0 {
		t.Fatal("the lease outlived the finish")
	}
	// dead: the report leaves for the dead letters; the next is due now.
	claim("t2", next)
	if ok, err := o.Finish(ctx, "q", "t2", rdb.OutboxDead, next, time.Time{}, []byte("r1'"), "refused"); err != nil || !ok {
		t.Fatalf("dead: %v, %v", ok, err)
	}
	if at, _ := dueAt(t, raw, "q"); !cmp.Equal(list(), []string{"r2"}) || depth(t, o) != 1 || !at.Equal(next) {
		t.Fatalf("after dead: %v, depth %d, due %v", list(), depth(t, o), at)
	}
	// sent: the last report goes, and the queue leaves the due set.
	claim("t3", next)
	if ok, err := o.Finish(ctx, "q", "t3", rdb.OutboxSent, next, time.Time{}, nil, ""); err != nil || !ok {
		t.Fatalf("sent: %v, %v", ok, err)
	}
	if _, ok := dueAt(t, raw, "q"); ok || len(list()) != 0 || depth(t, o) != 0 {
		t.Fatalf("after the last was sent: %v, depth %d, due %v", list(), depth(t, o), ok)
	}
	push(t, o, "q2", "x", t0, 10)
	if _, ok, err := o.Claim(ctx, "q2", "t4", t0, time.Minute); err != nil || !ok {
		t.Fatalf("claim q2: %v, %v", ok, err)
	}
	if ok, err := o.Finish(ctx, "q2", "t4", rdb.OutboxDead, t0, time.Time{}, []byte("x"), "gone"); err != nil || !ok {
		t.Fatalf("dead q2: %v, %v", ok, err)
	}
	dead, err := o.DeadLetters(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i := range dead {
		dead[i].ID = ""
	}
	want := []rdb.OutboxDeadLetter{{Queue: "q2", Report: "x", Error: "gone"}, {Queue: "q", Report: "r1'", Error: "refused"}}
	if diff := cmp.Diff(want, dead); diff != "" {
		t.Fatalf("dead letters, newest first (-want +got):\n%s", diff)
	}
}

func TestOutboxReleaseGivesTheLeaseBackUntouched(t *testing.T) {
	o, raw := newOutbox(t)
	ctx := context.Background()
	push(t, o, "q", "r", t0, 10)
	if _, ok, err := o.Claim(ctx, "q", "t1", t0, time.Minute); err != nil || !ok {
		t.Fatalf("claim: %v, %v", ok, err)
	}
	later := t0.Add(time.Second)
	if ok, err := o.Release(ctx, "q", "other", later); err != nil || ok {
		t.Fatalf("release by another token: %v, %v", ok, err)
	}
	if at, _ := dueAt(t, raw, "q"); !at.Equal(t0.Add(time.Minute)) {
		t.Fatalf("a refused release made the queue due at %v", at)
	}
	if ok, err := o.Release(ctx, "q", "t1", later); err != nil || !ok {
		t.Fatalf("release: %v, %v", ok, err)
	}
	if at, _ := dueAt(t, raw, "q"); !at.Equal(later) || depth(t, o) != 1 {
		t.Fatalf("after release: due %v, depth %d", at, depth(t, o))
	}
	head, ok, err := o.Claim(ctx, "q", "t2", later, time.Minute)
	if err != nil || !ok || string(head) != "r" {
		t.Fatalf("the next claim: %q, %v, %v", head, ok, err)
	}
}
