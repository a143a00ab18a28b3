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

// These tests hold the pool scripts to their contracts (poolscripts.go):
// each calls one script through PoolStore at a time the test chooses.

const poolTTL = 30 * time.Second

var t0 = time.UnixMilli(1_700_000_000_000)

type poolFixture struct {
	s   *rdb.PoolStore
	raw *redis.Client
}

func newPools(t *testing.T) poolFixture {
	t.Helper()
	raw := redistest.Client(t)
	return poolFixture{
		s:   rdb.NewPoolStore(rdb.New(raw), rdb.PoolStoreConfig{TTL: poolTTL, RecordTTL: time.Hour}),
		raw: raw,
	}
}

var mysql = rdb.Pool{Name: "mysql", Members: []string{"mysql-1", "mysql-2"}}
var one = rdb.Pool{Name: "one", Members: []string{"only"}}

func (f poolFixture) take(t *testing.T, p rdb.Pool, now time.Time, holder string, wait bool) rdb.PoolTake {
	t.Helper()
	got, err := f.s.Take(context.Background(), p, now, holder, wait)
	if err != nil {
		t.Fatalf("Take(%s, %s): %v", p.Name, holder, err)
	}
	return got
}

func (f poolFixture) view(t *testing.T, p rdb.Pool, now time.Time) rdb.PoolView {
	t.Helper()
	v, err := f.s.View(context.Background(), now, p)
	if err != nil {
		t.Fatalf("View(%s): %v", p.Name, err)
	}
	return v[0]
}

// holders is who holds each member of a view.
func holders(v rdb.PoolView) map[string]string {
	out := map[string]string{}
	for m, h := range v.Held {
		out[m] = h.Holder
	}
	return out
}

func line(v rdb.PoolView) []string {
	var out []string
	for _, h := range v.Line {
		out = append(out, h.Holder)
	}
	return out
}

func TestPoolTakeGivesFreeMembersInConfigOrder(t *testing.T) {
	f := newPools(t)
	a := f.take(t, mysql, t0, "a", false)
	if want := (rdb.PoolTake{Held: true, Member: "mysql-1", Since: t0}); !cmp.Equal(a, want) {
		t.Fatalf("a took %+v, want %+v", a, want)
	}
	b := f.take(t, mysql, t0, "b", false)
	if b.Member != "mysql-2" || !b.Held || b.Before {
		t.Fatalf("b took %+v, want mysql-2", b)
	}
	// Asking again returns the lease the holder knew of, extended.
	later := t0.Add(10 * time.Second)
	again := f.take(t, mysql, later, "a", false)
	if want := (rdb.PoolTake{Held: true, Member: "mysql-1", Since: t0, Before: true}); !cmp.Equal(again, want) {
		t.Fatalf("a again %+v, want %+v", again, want)
	}
	exp, err := f.raw.ZScore(context.Background(), "{gantry}:pool:exp:mysql", "mysql-1").Result()
	if err != nil || int64(exp) != later.Add(poolTTL).UnixMilli() {
		t.Fatalf("mysql-1 expires at %v (%v), want %v", exp, err, later.Add(poolTTL).UnixMilli())
	}
}

// TestPoolMemberLeasedIsNeverHandedToAnother: while a lease lives, no
// other holder gets its member, whether it tries, waits, or asks again;
// only once the lease has expired does the member move, to the head of
// the line.
func TestPoolMemberLeasedIsNeverHandedToAnother(t *testing.T) {
	f := newPools(t)
	if a := f.take(t, one, t0, "a", false); a.Member != "only" {
		t.Fatalf("a took %+v", a)
	}
	if b := f.take(t, one, t0, "b", false); b.Held || b.Member != "" || b.Position != 0 {
		t.Fatalf("b tried and got %+v; the member is a's", b)
	}
	if n := f.raw.ZCard(context.Background(), "{gantry}:pool:line:one").Val(); n != 0 {
		t.Fatalf("a try joined the line: %d in line", n)
	}
	b := f.take(t, one, t0, "b", true)
	if want := (rdb.PoolTake{Position: 1, Soonest: t0.Add(poolTTL)}); !cmp.Equal(b, want) {
		t.Fatalf("b waits %+v, want %+v", b, want)
	}
	c := f.take(t, one, t0, "c", true)
	if c.Held || c.Position != 2 {
		t.Fatalf("c waits %+v, want position 2", c)
	}
	// Just before expiry, still a's, for everyone.
	edge := t0.Add(poolTTL - time.Millisecond)
	for _, h := range []string{"b", "c", "d"} {
		if got := f.take(t, one, edge, h, h != "d"); got.Held {
			t.Fatalf("%s got a's member: %+v", h, got)
		}
	}
	if got := holders(f.view(t, one, edge)); got["only"] != "a" {
		t.Fatalf("holders %v, want a's", got)
	}
	// Once a's lease has expired, the head of the line gets it.
	after := t0.Add(poolTTL + time.Second)
	if got := f.take(t, one, after, "c", true); got.Held || got.Position != 1 {
		t.Fatalf("c behind b after a's expiry: %+v", got)
	}
	if got := f.take(t, one, after, "b", true); !got.Held || got.Member != "only" || got.Before {
		t.Fatalf("b after a's expiry: %+v", got)
	}
	if got := f.take(t, one, after, "a", false); got.Held {
		t.Fatalf("a got its expired member back from b: %+v", got)
	}
}

func TestPoolLeaveGivesBackAndHandsOn(t *testing.T) {
	f := newPools(t)
	ctx := context.Background()
	f.take(t, one, t0, "a", false)
	f.take(t, one, t0, "b", true)
	f.take(t, one, t0, "c", true)
	// Leaving without giving back: b is out of line, a keeps its lease.
	freed, err := f.s.Leave(ctx, t0, "b", false, one)
	if err != nil || !cmp.Equal(freed, []bool{false}) {
		t.Fatalf("b leaves: %v, %v", freed, err)
	}
	v := f.view(t, one, t0)
	if got := holders(v); got["only"] != "a" || !cmp.Equal(line(v), []string{"c"}) {
		t.Fatalf("after b left: holders %v, line %v", got, line(v))
	}
	// A holder that has nothing gives nothing back.
	if freed, err := f.s.Leave(ctx, t0, "nobody", true, one, mysql); err != nil || !cmp.Equal(freed, []bool{false, false}) {
		t.Fatalf("nobody leaves: %v, %v", freed, err)
	}
	// Giving back hands the member to the head of the line at once.
	if freed, err := f.s.Leave(ctx, t0, "a", true, one); err != nil || !cmp.Equal(freed, []bool{true}) {
		t.Fatalf("a gives back: %v, %v", freed, err)
	}
	v = f.view(t, one, t0)
	if got := holders(v); got["only"] != "c" || len(v.Line) != 0 {
		t.Fatalf("after a gave back: holders %v, line %v", got, line(v))
	}
	if got := f.take(t, one, t0, "c", true); !got.Held || got.Member != "only" || got.Before {
		t.Fatalf("c confirms %+v", got)
	}
}

func TestPoolRenewExtendsAndReportsALoss(t *testing.T) {
	f := newPools(t)
	ctx := context.Background()
	renew := func(now time.Time, holder string) bool {
		t.Helper()
		ok, err := f.s.Renew(ctx, now, holder, one, mysql)
		if err != nil {
			t.Fatalf("Renew(%s): %v", holder, err)
		}
		return ok
	}
	f.take(t, one, t0, "a", false)
	f.take(t, one, t0, "b", true)
	later := t0.Add(poolTTL - time.Second)
	if !renew(later, "a") || !renew(later, "b") {
		t.Fatal("a renewal failed while both held on")
	}
	// Renewed, a's lease and b's place outlive the first TTL.
	v := f.view(t, one, t0.Add(poolTTL+time.Second))
	if got := holders(v); got["only"] != "a" || !cmp.Equal(line(v), []string{"b"}) {
		t.Fatalf("after the renewals: holders %v, line %v", got, line(v))
	}
	if !renew(t0, "nobody") {
		t.Fatal("a holder that holds nothing lost something")
	}
	// An admin frees a's member: a's next renewals report the loss, until
	// a acquires the pool again.
	if _, ok, err := f.s.Force(ctx, one, later, "only"); err != nil || !ok {
		t.Fatalf("Force: %v %v", ok, err)
	}
	if renew(later, "a") || renew(later, "a") {
		t.Fatal("a's renewal did not report the lost lease")
	}
	if _, err := f.s.Leave(ctx, later, "b", true, one); err != nil {
		t.Fatal(err)
	}
	if got := f.take(t, one, later, "a", false); !got.Held {
		t.Fatalf("a takes again: %+v", got)
	}
	if !renew(later, "a") {
		t.Fatal("a's renewal after taking the pool again reports a loss")
	}
	// A lease that expired before the heartbeat is lost too.
	if renew(later.Add(poolTTL+time.Second), "a") {
		t.Fatal("a's renewal after its lease expired did not report the loss")
	}
}

func TestPoolForceFreesWhoeverHolds(t *testing.T) {
	f := newPools(t)
	ctx := context.Background()
	if _, ok, err := f.s.Force(ctx, mysql, t0, "mysql-2"); err != nil || ok {
		t.Fatalf("Force of a free member: %v, %v", ok, err)
	}
	f.take(t, mysql, t0, "a", false)
	f.take(t, mysql, t0.Add(time.Second), "b", false)
	f.take(t, mysql, t0, "c", true)
	h, ok, err := f.s.Force(ctx, mysql, t0.Add(2*time.Second), "mysql-2")
	if want := (rdb.PoolHold{Holder: "b", Since: t0.Add(time.Second)}); err != nil || !ok || !cmp.Equal(h, want) {
		t.Fatalf("Force = %+v, %v, %v; want %+v", h, ok, err, want)
	}
	if got := holders(f.view(t, mysql, t0)); !cmp.Equal(got, map[string]string{"mysql-1": "a", "mysql-2": "c"}) {
		t.Fatalf("after Force: %v; want mysql-2 handed to c", got)
	}
}

func TestPoolViewSweepsWhatExpired(t *testing.T) {
	f := newPools(t)
	f.take(t, one, t0, "a", false)
	f.take(t, one, t0.Add(time.Second), "b", true)
	f.take(t, one, t0.Add(2*time.Second), "c", true)
	v := f.view(t, one, t0)
	want := rdb.PoolView{
		Held: map[string]rdb.PoolHold{"only": {Holder: "a", Since: t0}},
		Line: []rdb.PoolHold{{Holder: "b", Since: t0.Add(time.Second)}, {Holder: "c", Since: t0.Add(2 * time.Second)}},
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Fatalf("view (-want +got):\n%s", diff)
	}
	// Past a's lease and b's place (neither renewed), but not c's: c gets it.
	v = f.view(t, one, t0.Add(poolTTL+1500*time.Millisecond))
	if got := holders(v); got["only"] != "c" || len(v.Line) != 0 {
		t.Fatalf("after expiry: holders %v, line %v", got, line(v))
	}
}

func TestPoolWakeupsTellTheNewOwnerAndTheLine(t *testing.T) {
	f := newPools(t)
	ctx := context.Background()
	sub, err := f.s.Subscribe(ctx, "one", "mysql")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	got := make(chan rdb.PoolWake, 10)
	go func() {
		defer close(done)
		for w := range sub.C {
			got <- w
		}
	}()
	next := func() rdb.PoolWake {
		t.Helper()
		select {
		case w := <-got:
			return w
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up came")
			return rdb.PoolWake{}
		}
	}
	f.take(t, one, t0, "a", false)
	f.take(t, one, t0, "b", true)
	f.take(t, one, t0, "c", true)
	if _, err := f.s.Leave(ctx, t0, "c", true, one); err != nil {
		t.Fatal(err)
	}
	if w := next(); w != (rdb.PoolWake{Pool: "one"}) {
		t.Fatalf("c left the line: %+v, want the line moved", w)
	}
	if _, err := f.s.Leave(ctx, t0, "a", true, one); err != nil {
		t.Fatal(err)
	}
	if w := next(); w != (rdb.PoolWake{Pool: "one", Holder: "b"}) {
		t.Fatalf("a gave back: %+v, want b told", w)
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("C was not closed after Close")
	}
}
