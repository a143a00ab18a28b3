package rdb_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// claimScript: each status, and a lease another worker holds is neither
// taken nor renewed, its delivery left pending.
func TestClaim(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	f.job(t, 1, "state", "queued")                    // started
	f.job(t, 2, "state", "queued")                    // held by w2
	f.job(t, 3, "state", "succeeded")                 // final
	f.job(t, 5, "state", "queued", "cancel_by", "U9") // leased, not started
	f.job(t, 6, "state", "waiting", "started", "77")  // started, keeps its start
	f.job(t, 7, "state", "running")                   // leased again (its worker died)
	for _, id := range []int64{1, 2, 3, 4, 5, 6, 7} {
		f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), id))
	}
	ds, err := q.Take(ctx, "w1", 10, 0)
	if err != nil || len(ds) != 7 {
		t.Fatalf("take: %v, %v", ds, err)
	}
	f.raw.Set(ctx, f.k.Lease(2), "w2", time.Minute)
	f.raw.Set(ctx, f.k.Lease(3), "w1", time.Minute)

	start := time.UnixMilli(5000)
	cs, err := q.Claim(ctx, ds, "w1", 30*time.Second, start)
	if err != nil {
		t.Fatal(err)
	}
	want := []rdb.ClaimStatus{rdb.ClaimStarted, rdb.ClaimHeld, rdb.ClaimIdle, rdb.ClaimGone, rdb.ClaimLeased, rdb.ClaimStarted, rdb.ClaimLeased}
	for i, c := range cs {
		if c.Status != want[i] {
			t.Errorf("job #%d: status %d, want %d", ds[i].Job, c.Status, want[i])
		}
	}
	if cs[1].Holder != "w2" || cs[2].State != "succeeded" {
		t.Errorf("holder %q, state %q", cs[1].Holder, cs[2].State)
	}
	if r := cs[0].Record; r["state"] != "running" || r["started"] != "5000" {
		t.Errorf("the started job's record as read: %v", r)
	}
	if r := cs[4].Record; r["cancel_by"] != "U9" || r["state"] != "queued" {
		t.Errorf("the cancelled job's record as read: %v", r)
	}
	if r := f.hash(t, f.k.Job(6)); r["state"] != "running" || r["started"] != "77" {
		t.Errorf("a job that had started: %v", r)
	}
	for _, id := range []int64{1, 5, 6, 7} {
		if h := f.get(t, f.k.Lease(id)); h != "w1" {
			t.Errorf("lease of #%d held by %q, want w1", id, h)
		}
	}
	// Ownership: w2's lease is untouched, its TTL too, and the job not moved.
	if h := f.get(t, f.k.Lease(2)); h != "w2" {
		t.Errorf("lease of #2 held by %q, want w2 still", h)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Lease(2)).Val(); ttl <= 30*time.Second {
		t.Errorf("w2's lease TTL is %v: the claim renewed it", ttl)
	}
	if st := f.hash(t, f.k.Job(2))["state"]; st != "queued" {
		t.Errorf("a job another worker holds moved to %s", st)
	}
	if f.get(t, f.k.Lease(3)) != "" {
		t.Error("the lease of a final job is still there")
	}
	// The final job and the missing one were acknowledged: 7 - 2 pending.
	if n := f.pending(t); n != 5 {
		t.Errorf("%d deliveries pending, want 5", n)
	}
	ev := f.stream(t, f.k.Events())
	if len(ev) != 2 || ev[0]["job"] != "1" || ev[0]["state"] != "running" || ev[1]["job"] != "6" {
		t.Errorf("events %v: want the two starts", ev)
	}

	// Without a start time nothing moves to running.
	f.job(t, 8, "state", "queued")
	cs, err = q.Claim(ctx, []rdb.Delivery{{Job: 8, MsgID: "0-1"}}, "w1", time.Minute, time.Time{})
	if err != nil || cs[0].Status != rdb.ClaimLeased || cs[0].Record["state"] != "queued" {
		t.Fatalf("claim without start: %+v, %v", cs, err)
	}
}

// acquireLeaseScript and releaseLeaseScript: a worker takes, renews and
// gives up its own lease, never another's.
func TestLeaseIsTheOwners(t *testing.T) {
	f := newFixture(t)
	q := rdb.NewQueue(f.c, f.k, 1000)
	if ok, err := q.Lease(ctx, 1, "w1", time.Second); err != nil || !ok {
		t.Fatalf("take a free lease: %v, %v", ok, err)
	}
	if ok, err := q.Lease(ctx, 1, "w1", time.Minute); err != nil || !ok {
		t.Fatalf("renew its own lease: %v, %v", ok, err)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Lease(1)).Val(); ttl <= time.Second {
		t.Errorf("renewed lease TTL %v, want up to a minute", ttl)
	}
	if ok, err := q.Lease(ctx, 1, "w2", time.Hour); err != nil || ok {
		t.Fatalf("take another's lease: %v, %v", ok, err)
	}
	if h, _ := q.LeaseHolder(ctx, 1); h != "w1" {
		t.Fatalf("holder %q after another tried, want w1", h)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Lease(1)).Val(); ttl > time.Minute {
		t.Errorf("lease TTL %v: another worker's try renewed it", ttl)
	}
	if ok, err := q.Unlease(ctx, 1, "w2"); err != nil || ok {
		t.Fatalf("give up another's lease: %v, %v", ok, err)
	}
	if h, _ := q.LeaseHolder(ctx, 1); h != "w1" {
		t.Fatalf("holder %q, want w1 still", h)
	}
	if ok, err := q.Unlease(ctx, 1, "w1"); err != nil || !ok {
		t.Fatalf("give up its own lease: %v, %v", ok, err)
	}
	if h, err := q.LeaseHolder(ctx, 1); err != nil || h != "" {
		t.Fatalf("holder %q, %v after release", h, err)
	}
}

// renewScript (the lease keeper's): its own leases renewed and deliveries
// touched, cancels read, a lapsed lease taken again; another's lease is
// reported lost and left alone.
func TestRenew(t *testing.T) {
	f := newFixture(t)
	q := newQueue(t, f)
	f.job(t, 1, "state", "running")
	f.job(t, 2, "state", "running", "cancel_by", "U9")
	f.job(t, 3, "state", "running")
	f.job(t, 4, "state", "running")
	for _, id := range []int64{1, 2, 3, 4} {
		f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), id))
	}
	ds, _ := q.Take(ctx, "w1", 10, 0)
	f.raw.Set(ctx, f.k.Lease(1), "w1", time.Second)
	f.raw.Set(ctx, f.k.Lease(2), "w1", time.Second)
	f.raw.Set(ctx, f.k.Lease(3), "w2", time.Second)
	// #4's lease lapsed.

	rs, err := q.Renew(ctx, ds, "w1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []rdb.Renewed{{}, {Cancelled: true, CancelBy: "U9"}, {Lost: true, Holder: "w2"}, {}}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("job #%d: %+v, want %+v", ds[i].Job, rs[i], want[i])
		}
	}
	for _, id := range []int64{1, 2, 4} {
		if h := f.get(t, f.k.Lease(id)); h != "w1" {
			t.Errorf("lease of #%d held by %q", id, h)
		}
		if ttl := f.raw.PTTL(ctx, f.k.Lease(id)).Val(); ttl <= time.Second {
			t.Errorf("lease of #%d TTL %v: not renewed", id, ttl)
		}
	}
	if h := f.get(t, f.k.Lease(3)); h != "w2" {
		t.Errorf("another worker's lease is held by %q after a renewal", h)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Lease(3)).Val(); ttl > time.Second {
		t.Errorf("another worker's lease TTL %v: renewed", ttl)
	}
}
