package bot

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// GroupConfig configures ConsumeGroup. Zero values are the defaults.
type GroupConfig struct {
	Group    string // the consumer group; "" is "slack"
	Consumer string // this process, e.g. host/pid; required
	// Shards is how many jobs are shown at once; events of one job go to
	// one shard, in order. 0 is 8.
	Shards int
	// Reclaim is how long an event may stay read but unacknowledged (its
	// reader died) before another consumer takes it; 0 is 5 minutes.
	Reclaim time.Duration
}

// CreateEventGroup makes sure the consumer group exists, reading from now
// on, so that events announced before ConsumeGroup first reads are not
// missed. ConsumeGroup creates it too; call this first when requests may
// create jobs before then.
func CreateEventGroup(ctx context.Context, s *jobs.Store, group string) error {
	err := s.Redis().XGroupCreateMkStream(ctx, s.Keys().Events(), group, "$").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create event group %s: %w", group, err)
	}
	return nil
}

// ConsumeGroup shows job events until ctx ends, reading them as one
// consumer of a group so that several processes share them: each event
// is shown by one of them and acknowledged once shown. Events of one job
// are shown in order; different jobs at once.
func (t *Threads) ConsumeGroup(ctx context.Context, cfg GroupConfig) error {
	if cfg.Group == "" {
		cfg.Group = "slack"
	}
	if cfg.Shards <= 0 {
		cfg.Shards = 8
	}
	const maxEventTries = 5
	if cfg.Reclaim <= 0 {
		cfg.Reclaim = 5 * time.Minute
	}
	var (
		mu       sync.Mutex
		inFlight = map[string]bool{} // read and not yet acknowledged here
		failures = map[string]int{}  // times showing an event failed here
		wg       sync.WaitGroup
	)
	shards := make([]chan jobs.Event, cfg.Shards)
	for i := range shards {
		shards[i] = make(chan jobs.Event, 64)
		wg.Add(1)
		go func(in <-chan jobs.Event) {
			defer wg.Done()
			for e := range in {
				err := t.Handle(ctx, e)
				if err != nil && ctx.Err() == nil {
					// Left unacknowledged: it is handed out again (to this
					// process or another) once it has been idle for the
					// reclaim time, so a Slack or Redis outage delays what
					// the thread shows instead of losing it.
					t.logger.Error("show job event; it will be tried again", "job", e.Job, "event", e.Type, "err", err)
				}
				if err != nil && ctx.Err() == nil {
					mu.Lock()
					failures[e.ID]++
					giveUp := failures[e.ID] >= maxEventTries
					if giveUp {
						delete(failures, e.ID)
					}
					mu.Unlock()
					if giveUp {
						t.logger.Error("giving up on a job event", "job", e.Job, "event", e.Type, "tries", maxEventTries)
						err = nil // acknowledged below
					}
				}
				if err != nil || ctx.Err() != nil {
					mu.Lock()
					delete(inFlight, e.ID)
					mu.Unlock()
					continue
				}
				if err := t.store.AckEvents(ctx, cfg.Group, e.ID); err != nil && ctx.Err() == nil {
					t.logger.Error("acknowledge job event", "job", e.Job, "err", err)
				}
				mu.Lock()
				delete(inFlight, e.ID)
				mu.Unlock()
			}
		}(shards[i])
	}
	defer func() {
		for _, sh := range shards {
			close(sh)
		}
		wg.Wait()
	}()
	for ctx.Err() == nil {
		evs, err := t.store.ReadEventsGroup(ctx, cfg.Group, cfg.Consumer, 64, 2*time.Second, cfg.Reclaim)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			t.logger.Error("read job events", "group", cfg.Group, "err", err)
			_ = sleep(ctx, time.Second)
			continue
		}
		for _, e := range evs {
			mu.Lock()
			dup := inFlight[e.ID] // our own event, reclaimed while a shard is slow
			inFlight[e.ID] = true
			mu.Unlock()
			if dup {
				continue
			}
			select {
			case shards[e.Job%int64(len(shards))] <- e:
			case <-ctx.Done():
			}
		}
	}
	return nil
}
