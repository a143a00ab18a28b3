package pool

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

// patience bounds every wait in these tests: generous, because a loaded
// two-core machine running -race can be slow. Correctness checks are strict.
const patience = 30 * time.Second

// clock is a fake Config.Now that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*patience)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or patience runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// acquired is the outcome of an Acquire run in a goroutine.
type acquired struct {
	holder string
	leases []Lease
	err    error
	at     time.Time
}

// goAcquire runs Acquire in a goroutine; positions receives every onWait.
// The goroutine is cancelled and awaited when the test ends, before the
// test's Redis goes away.
func goAcquire(t *testing.T, ctx context.Context, p *Pools, names []string, holder string, positions chan<- int) <-chan acquired {
	ctx, cancel := context.WithCancel(ctx)
	out := make(chan acquired, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ls, err := p.Acquire(ctx, names, holder, func(_ string, pos int) {
			if positions != nil {
				select {
				case positions <- pos:
				case <-ctx.Done():
				}
			}
		})
		out <- acquired{holder: holder, leases: ls, err: err, at: time.Now()}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(patience):
			t.Errorf("Acquire for %s did not return after its context ended", holder)
		}
	})
	return out
}

func receive[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(patience):
		t.Fatalf("gave up waiting for %s", what)
		panic("unreachable")
	}
}

// quiet asserts nothing arrives on c for a short while.
func quiet[T any](t *testing.T, c <-chan T, what string) {
	t.Helper()
	select {
	case v := <-c:
		t.Fatalf("%s: unexpected %v", what, v)
	case <-time.After(150 * time.Millisecond):
	}
}

// waitPos reads positions until pos comes.
func waitPos(t *testing.T, c <-chan int, pos int, who string) {
	t.Helper()
	for {
		if got := receive(t, c, who+" to reach position "+strconv.Itoa(pos)); got == pos {
			return
		}
	}
}

func status(t *testing.T, p *Pools, name string) Status {
	t.Helper()
	st, err := p.Status(context.Background(), name)
	if err != nil {
		t.Fatalf("Status(%q): %v", name, err)
	}
	return st[0]
}

func holders(st Status) map[string]string {
	out := make(map[string]string)
	for _, m := range st.Members {
		out[m.Name] = m.Holder
	}
	return out
}

func waiting(st Status) []string {
	var out []string
	for _, w := range st.Waiting {
		out = append(out, w.Holder)
	}
	return out
}

// redisClient is the Redis layer on a Redis of the test's own.
func redisClient(t *testing.T) *rdb.Client { return rdb.New(redistest.Client(t)) }
