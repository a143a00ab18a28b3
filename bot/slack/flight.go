package slack

import "sync"

// flights runs one look-up per key at a time: callers that ask for a key
// while its look-up runs wait for that answer instead of asking Slack again.
// Without it, ten people typing in a channel gantry has not seen yet make
// ten identical calls, which Slack's rate limits then space a second apart.
type flights[V any] struct {
	mu sync.Mutex
	m  map[string]*flight[V]
}

type flight[V any] struct {
	done chan struct{}
	v    V
	err  error
}

func (f *flights[V]) do(key string, look func() (V, error)) (V, error) {
	f.mu.Lock()
	if f.m == nil {
		f.m = map[string]*flight[V]{}
	}
	if c, ok := f.m[key]; ok {
		f.mu.Unlock()
		<-c.done
		return c.v, c.err
	}
	c := &flight[V]{done: make(chan struct{})}
	f.m[key] = c
	f.mu.Unlock()
	c.v, c.err = look()
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(c.done)
	return c.v, c.err
}
