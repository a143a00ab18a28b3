package bot

import (
	"context"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// GroupConfig configures ConsumeGroup. Zero values are the defaults.
type GroupConfig struct {
	Group    string // the consumer group; "" is "slack"
	Consumer string // this process, e.g. host/pid; required
	// Jobs is how many jobs are shown at once; events of one job are shown
	// in order, and a job that waits for Slack holds up no other. 0 is 256.
	Jobs int
	// Reclaim is how long an event may stay read but unacknowledged (its
	// reader died) before another consumer takes it; 0 is 5 minutes.
	Reclaim time.Duration
}

// ConsumeGroup shows job events until ctx ends, reading them as one
// consumer of a group so that several processes share them: each event
// is shown by one of them and acknowledged once shown. Events of one job
// are shown in order; different jobs at once, so that one job's message
// held back by a busy channel delays no other job's. It also takes up the
// live logs of running jobs that no process shows (see ResumeEvery).
func (t *Threads) ConsumeGroup(ctx context.Context, cfg GroupConfig) error {
	if cfg.Group == "" {
		cfg.Group = "slack"
	}
	if cfg.Jobs <= 0 {
		cfg.Jobs = 256
	}
	if cfg.Reclaim <= 0 {
		cfg.Reclaim = 5 * time.Minute
	}
	c := &consumer{t: t, cfg: cfg, slots: make(chan struct{}, cfg.Jobs), inFlight: map[string]bool{},
		failures: map[string]int{}, queues: map[int64][]jobs.Event{}}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t.resumeLoop(ctx)
	}()
	defer c.wg.Wait()
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
			c.dispatch(ctx, e)
		}
	}
	return nil
}

// consumer is one ConsumeGroup: a queue of events per job, each shown by
// its own goroutine while it has events.
type consumer struct {
	t     *Threads
	cfg   GroupConfig
	slots chan struct{} // jobs shown at once
	wg    sync.WaitGroup

	mu       sync.Mutex
	inFlight map[string]bool // read and not yet acknowledged here
	failures map[string]int  // times showing an event failed here
	queues   map[int64][]jobs.Event
}

// dispatch queues e behind the other events of its job.
func (c *consumer) dispatch(ctx context.Context, e jobs.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inFlight[e.ID] {
		return // our own event, reclaimed while it is still being shown
	}
	c.inFlight[e.ID] = true
	q, running := c.queues[e.Job]
	c.queues[e.Job] = append(q, e)
	if running {
		return
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.show(ctx, e.Job)
	}()
}

// show shows job id's events until its queue is empty.
func (c *consumer) show(ctx context.Context, id int64) {
	select {
	case c.slots <- struct{}{}:
		defer func() { <-c.slots }()
	case <-ctx.Done():
	}
	for {
		c.mu.Lock()
		q := c.queues[id]
		if len(q) == 0 || ctx.Err() != nil {
			for _, e := range q {
				delete(c.inFlight, e.ID)
			}
			delete(c.queues, id)
			c.mu.Unlock()
			return
		}
		e := q[0]
		c.queues[id] = q[1:]
		c.mu.Unlock()
		c.handle(ctx, e)
	}
}

// maxEventTries is how often showing one event is tried before it is
// given up.
const maxEventTries = 5

// handle shows e and acknowledges it. An event that could not be shown is
// left unacknowledged: it is handed out again (to this process or another)
// once it has been idle for the reclaim time, so a Slack or Redis outage
// delays what the thread shows instead of losing it.
func (c *consumer) handle(ctx context.Context, e jobs.Event) {
	t := c.t
	defer func() {
		c.mu.Lock()
		delete(c.inFlight, e.ID)
		c.mu.Unlock()
	}()
	err := t.Handle(ctx, e)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		t.logger.Error("show job event; it will be tried again", "job", e.Job, "event", e.Type, "err", err)
		c.mu.Lock()
		c.failures[e.ID]++
		giveUp := c.failures[e.ID] >= maxEventTries
		if giveUp {
			delete(c.failures, e.ID)
		}
		c.mu.Unlock()
		if !giveUp {
			return
		}
		t.logger.Error("giving up on a job event", "job", e.Job, "event", e.Type, "tries", maxEventTries)
	}
	if err := t.store.AckEvents(ctx, c.cfg.Group, e.ID); err != nil && ctx.Err() == nil {
		t.logger.Error("acknowledge job event", "job", e.Job, "err", err)
	}
}

// resumeLoop takes up, now and every ResumeEvery, the live logs of running
// jobs that no process shows: after a restart, or when the process that
// showed one died and its lease lapsed.
func (t *Threads) resumeLoop(ctx context.Context) {
	for {
		active, err := t.store.Active(ctx)
		if err != nil && ctx.Err() == nil {
			t.logger.Warn("look for live logs to take up", "err", err)
		}
		for _, j := range active {
			if j.State == jobs.Running && j.Channel != "" && j.ThreadTS != "" {
				t.follow(ctx, j)
			}
		}
		if sleep(ctx, t.resume) != nil {
			return
		}
	}
}
