package jobs

import (
	"context"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Writes of job records ride out a Redis that is away for a while (a
// restart, a Sentinel failover): a job must never fail because gantry's
// own Redis blinked. A write is tried again, with a growing pause, while
// the error says Redis could not be reached or is not ready yet, for up to
// StoreConfig.WriteRetryFor.

// retryWrite runs write until it succeeds, fails for good, ctx ends or
// the store's retry time is spent. attempt counts from 1.
func (s *Store) retryWrite(ctx context.Context, write func(attempt int) error) error {
	deadline := s.now().Add(s.writeRetryFor)
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := write(attempt)
		if err == nil || !rdb.Transient(err) || !time.Now().Before(deadline) {
			return err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		pause = min(pause*2, 2*time.Second)
	}
}
