package pool

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWaitersMoveUpAndCancelLeavesTheLine(t *testing.T) {
	ctx := ctxT(t)
	// A TTL and poll far beyond the test's patience: whatever happens here
	// happens by wake-ups, not by expiry or polling.
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: time.Hour})
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "a"); !ok {
		t.Fatal("a got nothing")
	}
	pb, pc, pd := make(chan int, 10), make(chan int, 10), make(chan int, 10)
	bctx, cancelB := context.WithCancel(ctx)
	b := goAcquire(t, bctx, p, []string{"mysql"}, "b", pb)
	waitPos(t, pb, 1, "b")
	c := goAcquire(t, ctx, p, []string{"mysql"}, "c", pc)
	waitPos(t, pc, 2, "c")
	d := goAcquire(t, ctx, p, []string{"mysql"}, "d", pd)
	waitPos(t, pd, 3, "d")

	cancelB()
	if got := receive(t, b, "b to give up"); !errors.Is(got.err, context.Canceled) || got.leases != nil {
		t.Fatalf("b after cancel: %+v", got)
	}
	waitPos(t, pc, 1, "c")
	waitPos(t, pd, 2, "d")
	if got := waiting(status(t, p, "mysql")); !cmp.Equal(got, []string{"c", "d"}) {
		t.Fatalf("line after b left: %v", got)
	}
	if err := p.Release(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, c, "c to get the member"); got.err != nil || got.leases[0].Member != "mysql-1" {
		t.Fatalf("c: %+v", got)
	}
	waitPos(t, pd, 1, "d")
	quiet(t, d, "d while c holds the only member")
	if err := p.Release(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, d, "d to get the member"); got.err != nil {
		t.Fatalf("d: %+v", got)
	}
}

func TestDeadlineWhileWaiting(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: time.Hour})
	if _, ok, _ := p.TryAcquire(ctx, "mysql", "a"); !ok {
		t.Fatal("a got nothing")
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(short, []string{"mysql"}, "b", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire past its deadline: %v", err)
	}
	if got := waiting(status(t, p, "mysql")); len(got) != 0 {
		t.Fatalf("b stayed in line: %v", got)
	}
}

func TestCancelGivesBackOnlyWhatItTook(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"a": {"a1"}, "b": {"b1"}, "c": {"c1"}}, Config{TTL: time.Hour})
	// y holds a1 from before; x holds c1, so y waits for c holding b1.
	if _, ok, _ := p.TryAcquire(ctx, "a", "y"); !ok {
		t.Fatal("y got nothing")
	}
	if _, ok, _ := p.TryAcquire(ctx, "c", "x"); !ok {
		t.Fatal("x got nothing")
	}
	pos := make(chan int, 10)
	yctx, cancel := context.WithCancel(ctx)
	y := goAcquire(t, yctx, p, []string{"c", "b", "a"}, "y", pos)
	waitPos(t, pos, 1, "y")
	if got := holders(status(t, p, "b")); got["b1"] != "y" {
		t.Fatalf("y did not take b1 before waiting for c: %v", got)
	}
	cancel()
	if got := receive(t, y, "y to give up"); !errors.Is(got.err, context.Canceled) {
		t.Fatalf("y: %+v", got)
	}
	all, err := p.Status(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, st := range all {
		for m, h := range holders(st) {
			got[m] = h
		}
		if len(st.Waiting) != 0 {
			t.Errorf("pool %s still has a line: %v", st.Name, st.Waiting)
		}
	}
	if want := map[string]string{"a1": "y", "b1": "", "c1": "x"}; !cmp.Equal(got, want) {
		t.Fatalf("after y gave up: %v, want %v", got, want)
	}
}

func TestLostLeaseEndsAMultiPoolAcquire(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"a": {"a1"}, "b": {"b1"}}, Config{TTL: 600 * time.Millisecond})
	if _, ok, _ := p.TryAcquire(ctx, "b", "x"); !ok {
		t.Fatal("x got nothing")
	}
	kctx, stop := context.WithCancel(ctx)
	defer stop()
	go p.Keepalive(kctx, "x")
	pos := make(chan int, 10)
	y := goAcquire(t, ctx, p, []string{"a", "b"}, "y", pos)
	waitPos(t, pos, 1, "y")
	if _, err := p.ForceRelease(ctx, "a1"); err != nil {
		t.Fatal(err)
	}
	got := receive(t, y, "y to notice it lost a1")
	if !errors.Is(got.err, ErrLeaseLost) {
		t.Fatalf("y: %+v, want ErrLeaseLost", got)
	}
	if got := waiting(status(t, p, "b")); len(got) != 0 {
		t.Fatalf("y stayed in b's line: %v", got)
	}
}

func TestCancelRacingAHandOverLeaksNothing(t *testing.T) {
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1"}}, Config{TTL: time.Hour})
	for i := 0; i < 30; i++ {
		if _, ok, _ := p.TryAcquire(ctx, "mysql", "a"); !ok {
			t.Fatalf("round %d: a got nothing", i)
		}
		pb, pc := make(chan int, 10), make(chan int, 10)
		bctx, cancelB := context.WithCancel(ctx)
		b := goAcquire(t, bctx, p, []string{"mysql"}, "b", pb)
		waitPos(t, pb, 1, "b")
		c := goAcquire(t, ctx, p, []string{"mysql"}, "c", pc)
		waitPos(t, pc, 2, "c")
		// a's release hands the member to b just as b gives up.
		go cancelB()
		if err := p.Release(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		gotB := receive(t, b, "b")
		switch {
		case gotB.err == nil:
			if err := p.Release(ctx, "b"); err != nil {
				t.Fatal(err)
			}
		case !errors.Is(gotB.err, context.Canceled):
			t.Fatalf("round %d: b: %v", i, gotB.err)
		}
		if got := receive(t, c, "c after b got or gave up"); got.err != nil {
			t.Fatalf("round %d: c: %v", i, got.err)
		}
		if err := p.Release(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		st := status(t, p, "mysql")
		if h := holders(st); h["mysql-1"] != "" || len(st.Waiting) != 0 {
			t.Fatalf("round %d: left behind %+v", i, st)
		}
	}
}
