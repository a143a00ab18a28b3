package jobs

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Writes of job records ride out a Redis that is away for a while (a
// restart, a Sentinel failover): a job must never fail because gantry's
// own Redis blinked. A write is tried again, with a growing pause, while
// the error says Redis could not be reached or is not ready yet, for up to
// StoreConfig.WriteRetryFor.

// transientRedis reports whether err means Redis was away or not ready,
// so that the same write may succeed later.
func transientRedis(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY "} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	if errors.Is(err, redis.ErrClosed) {
		return false // this process closed its client: it is stopping
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retryWrite runs write until it succeeds, fails for good, ctx ends or
// the store's retry time is spent. attempt counts from 1.
func (s *Store) retryWrite(ctx context.Context, write func(attempt int) error) error {
	deadline := s.now().Add(s.writeRetryFor)
	pause := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := write(attempt)
		if err == nil || !transientRedis(err) || !time.Now().Before(deadline) {
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
