package pool

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

func TestRenewExtendsLeasesAndReportsExpiry(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	ttl := 10 * time.Second
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{Now: clk.Now, TTL: ttl})
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "a"); !ok {
		t.Fatal("a got nothing")
	}
	for i := 0; i < 3; i++ { // renewed just in time, the lease lasts
		clk.Advance(ttl - time.Millisecond)
		if ok, err := p.Renew(ctx, "a"); err != nil || !ok {
			t.Fatalf("Renew %d = %v, %v", i, ok, err)
		}
		if _, ok, _ := p.TryAcquire(ctx, "mysql", "b"); ok {
			t.Fatalf("b took a's renewed lease after %d renewals", i)
		}
	}
	// A heartbeat that comes too late finds the lease gone, even before
	// anyone else took it.
	clk.Advance(ttl)
	if ok, err := p.Renew(ctx, "a"); err != nil || ok {
		t.Fatalf("late Renew = %v, %v; want false", ok, err)
	}
	if l, ok, _ := p.TryAcquire(ctx, "mysql", "b"); !ok || l.Holder != "b" {
		t.Fatalf("b could not take the expired lease: %+v %v", l, ok)
	}
	if ok, _ := p.Renew(ctx, "a"); ok {
		t.Fatal("the loss was forgotten before a released")
	}
	// Renew does not resurrect or steal anything: b still holds it.
	if got := holders(status(t, p, "mysql")); got["mysql-1"] != "b" {
		t.Fatalf("after a's late renewals: %v", got)
	}
	if err := p.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := holders(status(t, p, "mysql")); got["mysql-1"] != "b" {
		t.Fatalf("a's release freed b's member: %v", got)
	}
	if ok, err := p.Renew(ctx, "never-held"); err != nil || !ok {
		t.Fatalf("Renew of a holder with nothing = %v, %v", ok, err)
	}
}

func TestKilledHolderLeaseComesBackToAWaiter(t *testing.T) {
	ctx := ctxT(t)
	ttl := time.Second
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: ttl})
	dead, ok, err := p.TryAcquire(ctx, "mysql", "dead") // and never renews
	if err != nil || !ok {
		t.Fatal("dead got nothing", err)
	}
	pos := make(chan int, 10)
	// The waiter renews nothing itself but its place, which Acquire keeps.
	next := goAcquire(t, ctx, p, []string{"mysql"}, "next", pos)
	waitPos(t, pos, 1, "next")
	got := receive(t, next, "next to get the dead holder's member")
	if got.err != nil {
		t.Fatal(got.err)
	}
	l := got.leases[0]
	if l.Member != dead.Member || l.Since.Before(dead.Since.Add(ttl)) {
		t.Fatalf("next got %+v before the dead lease (%+v) expired", l, dead)
	}
}

func TestDeadWaiterDoesNotBlockTheLine(t *testing.T) {
	ctx := ctxT(t)
	ttl := time.Second
	members := map[string][]string{"mysql": {"mysql-1"}}
	srv := redistest.Start(t)
	p := New(rdb.New(srv.Client()), members, Config{TTL: ttl})
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "holder"); !ok {
		t.Fatal("holder got nothing")
	}
	// The dead waiter's process stops in line: its own client goes away,
	// so it neither heartbeats nor leaves.
	deadClient := srv.Client()
	doomed := New(rdb.New(deadClient), members, Config{TTL: ttl})
	pos := make(chan int, 10)
	deadDone := goAcquire(t, ctx, doomed, []string{"mysql"}, "dead", pos)
	waitPos(t, pos, 1, "dead")
	if err := deadClient.Close(); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, deadDone, "the dead waiter's Acquire to fail"); got.err == nil {
		t.Fatalf("the dead waiter's Acquire succeeded: %+v", got)
	}
	if got := waiting(status(t, p, "mysql")); len(got) != 1 || got[0] != "dead" {
		t.Fatalf("the dead waiter is not in line: %v", got)
	}
	pos2 := make(chan int, 10)
	live := goAcquire(t, ctx, p, []string{"mysql"}, "live", pos2)
	if err := p.Release(ctx, "holder"); err != nil {
		t.Fatal(err)
	}
	got := receive(t, live, "the live waiter behind a dead one")
	if got.err != nil || got.leases[0].Member != "mysql-1" {
		t.Fatalf("live: %+v", got)
	}
	st := status(t, p, "mysql")
	if h := holders(st); h["mysql-1"] != "live" || len(st.Waiting) != 0 {
		t.Fatalf("after the dead waiter expired: %+v", st)
	}
}

func TestKeepaliveKeepsTheLease(t *testing.T) {
	ctx := ctxT(t)
	ttl := 1500 * time.Millisecond
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: ttl})
	if _, ok, err := p.TryAcquire(ctx, "mysql", "a"); err != nil || !ok {
		t.Fatal("a got nothing", err)
	}
	kctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { p.Keepalive(kctx, "a"); close(done) }()
	time.Sleep(2 * ttl)
	if got := holders(status(t, p, "mysql")); got["mysql-1"] != "a" {
		t.Fatalf("the kept-alive lease expired: %v", got)
	}
	stop()
	<-done
	stopped := time.Now()
	eventually(t, "the lease expires once the heartbeat stops", func() bool {
		_, ok, _ := p.TryAcquire(ctx, "mysql", "b")
		return ok
	})
	if waited := time.Since(stopped); waited > 3*ttl {
		t.Errorf("the lease outlived its heartbeat by %v (TTL %v)", waited, ttl)
	}
}

func TestStalledWaiterLosesItsPlace(t *testing.T) {
	ctx := ctxT(t)
	clk := newClock()
	ttl := 10 * time.Second
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{Now: clk.Now, TTL: ttl, Poll: time.Hour})
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "a"); !ok {
		t.Fatal("a got nothing")
	}
	pa, pb := make(chan int, 10), make(chan int, 10)
	goAcquire(t, ctx, p, []string{"mysql"}, "b", pa)
	waitPos(t, pa, 1, "b")
	clk.Advance(ttl / 2)
	if ok, _ := p.Renew(ctx, "a"); !ok {
		t.Fatal("a's renewal failed")
	}
	goAcquire(t, ctx, p, []string{"mysql"}, "c", pb)
	waitPos(t, pb, 2, "c")
	// b's place expires (its Acquire polls only hourly); c's does not.
	clk.Advance(ttl / 2)
	if ok, _ := p.Renew(ctx, "a"); !ok {
		t.Fatal("a's renewal failed")
	}
	if got := waiting(status(t, p, "mysql")); len(got) != 1 || got[0] != "c" {
		t.Fatalf("line after b's place expired: %v", got)
	}
	waitPos(t, pb, 1, "c") // told by the line's wake-up, not by polling
}
