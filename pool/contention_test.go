package pool

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

// TestContentionNeverSharesAMember runs 50 holders, each taking a member of
// a pool of 3 several times. An independent record checks exclusion: on
// acquiring, a holder SETNXes a marker key for its member (in Redis, written
// by the test, not by the package) and deletes it before releasing; a
// SETNX that finds the marker already set is a violation.
func TestContentionNeverSharesAMember(t *testing.T) {
	const holders, rounds = 50, 4
	srv := redistest.Start(t)
	cli := srv.Client()
	ctx := ctxT(t)
	members := map[string][]string{"mysql": {"mysql-1", "mysql-2", "mysql-3"}}
	// Two processes' worth of Pools on separate clients share the pool.
	ps := []*Pools{New(rdb.New(cli), members, Config{TTL: 10 * time.Second}), New(rdb.New(srv.Client()), members, Config{TTL: 10 * time.Second})}

	var violations, acquisitions atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, holders)
	for i := 0; i < holders; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := ps[i%len(ps)]
			holder := fmt.Sprintf("job:%d", i)
			for r := 0; r < rounds; r++ {
				ls, err := p.Acquire(ctx, []string{"mysql"}, holder, nil)
				if err != nil {
					errs <- fmt.Errorf("%s round %d: %w", holder, r, err)
					return
				}
				acquisitions.Add(1)
				marker := "test-marker:" + ls[0].Member
				if set, err := cli.SetNX(ctx, marker, holder, 0).Result(); err != nil {
					errs <- err
					return
				} else if !set {
					violations.Add(1)
				}
				time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
				if err := cli.Del(ctx, marker).Err(); err != nil {
					errs <- err
					return
				}
				if err := p.Release(ctx, holder); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := violations.Load(); n != 0 {
		t.Errorf("%d times a holder found its member's marker set by another", n)
	}
	if n := acquisitions.Load(); n != holders*rounds {
		t.Errorf("%d acquisitions, want %d", n, holders*rounds)
	}
	st := status(t, ps[0], "mysql")
	for _, m := range st.Members {
		if m.Holder != "" {
			t.Errorf("%s is still held by %s", m.Name, m.Holder)
		}
	}
	if len(st.Waiting) != 0 {
		t.Errorf("still waiting: %v", st.Waiting)
	}
}

// TestFirstComeFirstServed lines up 47 holders behind 3 who hold a pool of
// 3, in a known order (each joins only once the one before is in line), then
// frees one member at a time and checks that exactly the next holder in
// line, and no other, gets it.
func TestFirstComeFirstServed(t *testing.T) {
	const holders, size = 50, 3
	ctx := ctxT(t)
	p := New(redisClient(t), map[string][]string{"mysql": {"mysql-1", "mysql-2", "mysql-3"}}, Config{TTL: time.Minute})
	name := func(i int) string { return fmt.Sprintf("job:%02d", i) }
	var holding []string // in the order they acquired
	for i := 0; i < size; i++ {
		if _, ok, err := p.TryAcquire(ctx, "mysql", name(i)); err != nil || !ok {
			t.Fatalf("%s got nothing: %v", name(i), err)
		}
		holding = append(holding, name(i))
	}
	got := make(chan acquired, holders)
	for i := size; i < holders; i++ {
		pos := make(chan int, holders)
		res := goAcquire(t, ctx, p, []string{"mysql"}, name(i), pos)
		go func() { got <- <-res }()
		waitPos(t, pos, i-size+1, name(i))
	}
	for next := size; next < holders; next++ {
		oldest := holding[0]
		holding = holding[1:]
		if err := p.Release(ctx, oldest); err != nil {
			t.Fatal(err)
		}
		a := receive(t, got, "the next in line to acquire")
		if a.err != nil {
			t.Fatalf("%s: %v", a.holder, a.err)
		}
		if a.holder != name(next) {
			t.Fatalf("acquisition %d went to %s, want %s (first come, first served)", next-size+1, a.holder, name(next))
		}
		holding = append(holding, a.holder)
	}
	quiet(t, got, "acquisitions after the line emptied")
}
