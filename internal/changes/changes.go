// Package changes lets the test servers under internal/ tell waiting tests
// that their state moved, so a test waits for what it expects instead of
// sleeping.
package changes

import (
	"sync"
	"time"
)

// pollInterval bounds how long Wait sleeps between checks, so that
// conditions on things outside the server are seen too.
const pollInterval = 50 * time.Millisecond

// Signal wakes everything waiting for a change. Its zero value is ready.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (s *Signal) current() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
	}
	return s.ch
}

// Notify wakes every waiter.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch != nil {
		close(s.ch)
	}
	s.ch = make(chan struct{})
}

// Wait reports whether cond held before timeout, checking it again on
// every change and at least every 50ms.
func (s *Signal) Wait(timeout time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		changed := s.current()
		if cond() {
			return true
		}
		select {
		case <-changed:
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}
