package pool

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// hub holds one subscription to the wake-ups of all pools while at least
// one Acquire of this process waits, and passes each message on to the
// local waiters of that pool.
type hub struct {
	store *rdb.PoolStore
	pools []string

	mu      sync.Mutex
	sub     *rdb.PoolWakeups
	waiters map[string]map[*waiter]struct{} // pool -> waiters
	count   int
}

// waiter is one Acquire waiting in one pool's line.
type waiter struct {
	pool, holder string
	granted      chan struct{} // it was handed a member
	moved        chan struct{} // the line moved: its position may have changed
	// armed is set while the waiter wants to hear that the line moved; the
	// first such message clears it, so a busy pool does not wake a waiter
	// for every hand-over, only once per look at its position.
	armed atomic.Bool
}

func newHub(store *rdb.PoolStore, pools []string) *hub {
	return &hub{store: store, pools: pools, waiters: make(map[string]map[*waiter]struct{})}
}

// add registers a waiter. With open false it does so only if the
// subscription is already up (and returns nil otherwise); with open true it
// subscribes first if needed. Once add returns a waiter, every message
// published afterwards reaches it.
func (h *hub) add(ctx context.Context, pool, holder string, open bool) (*waiter, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sub == nil {
		if !open {
			return nil, nil
		}
		sub, err := h.store.Subscribe(ctx, h.pools...)
		if err != nil {
			return nil, fmt.Errorf("pool: subscribe to wake-ups: %w", err)
		}
		h.sub = sub
		go h.relay(sub)
	}
	w := &waiter{pool: pool, holder: holder, granted: make(chan struct{}, 1), moved: make(chan struct{}, 1)}
	w.armed.Store(true)
	if h.waiters[pool] == nil {
		h.waiters[pool] = make(map[*waiter]struct{})
	}
	h.waiters[pool][w] = struct{}{}
	h.count++
	return w, nil
}

// remove unregisters a waiter and closes the subscription after the last.
func (h *hub) remove(w *waiter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.waiters[w.pool][w]; !ok {
		return
	}
	delete(h.waiters[w.pool], w)
	h.count--
	if h.count == 0 && h.sub != nil {
		_ = h.sub.Close()
		h.sub = nil
	}
}

func (h *hub) relay(sub *rdb.PoolWakeups) {
	for m := range sub.C {
		h.mu.Lock()
		for w := range h.waiters[m.Pool] {
			if m.Holder == w.holder {
				signal(w.granted)
			} else if w.armed.CompareAndSwap(true, false) {
				signal(w.moved)
			}
		}
		h.mu.Unlock()
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
