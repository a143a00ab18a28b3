package rdb

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// PoolWake is one message on a pool's wake channel: Holder was handed a
// member of Pool, or, when Holder is "", Pool's line moved.
type PoolWake struct {
	Pool, Holder string
}

// PoolWakeups is one subscription to the wake channels of some pools.
type PoolWakeups struct {
	ps *redis.PubSub
	// C delivers the messages in the order they were published; it is
	// closed after Close. Its reader reads it until then.
	C <-chan PoolWake
}

// Subscribe listens to the wake channels of pools. It returns once Redis
// has confirmed the subscription: every message published afterwards is
// delivered on C.
func (s *PoolStore) Subscribe(ctx context.Context, pools ...string) (*PoolWakeups, error) {
	channels := make(map[string]string, len(pools))
	list := make([]string, 0, len(pools))
	for _, p := range pools {
		c := s.keys.wake(p)
		channels[c] = p
		list = append(list, c)
	}
	ps := s.c.r.Subscribe(ctx, list...)
	// The first confirmation means the whole SUBSCRIBE has run.
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, err
	}
	out := make(chan PoolWake)
	go func() {
		defer close(out)
		for m := range ps.Channel() {
			if pool, ok := channels[m.Channel]; ok {
				out <- PoolWake{Pool: pool, Holder: m.Payload}
			}
		}
	}()
	return &PoolWakeups{ps: ps, C: out}, nil
}

// Close ends the subscription; C is closed once what was received has been
// delivered.
func (w *PoolWakeups) Close() error { return w.ps.Close() }
