package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/pool"
	"github.com/redis/go-redis/v9"
)

// config is one measurement: Clients contend for a pool of Members, each
// holding what it took for Hold. The run lasts Duration, or until Cycles
// cycles are done when Cycles > 0, after Warmup (not counted).
type config struct {
	Clients, Members int
	Hold             time.Duration
	Duration, Warmup time.Duration
	Cycles           int64
	TTL              time.Duration
}

// result is what a measurement saw.
type result struct {
	Cycles     int64           // take-and-release cycles counted
	Elapsed    time.Duration   // time they took
	Handovers  []time.Duration // from a release to the waiter's acquisition
	Violations int64           // times two clients held one member at once
}

func (r result) PerSecond() float64 { return float64(r.Cycles) / r.Elapsed.Seconds() }

// Quantile returns the q-quantile (0..1) of the hand-over times.
func (r result) Quantile(q float64) time.Duration {
	if len(r.Handovers) == 0 {
		return 0
	}
	s := slices.Clone(r.Handovers)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// measure runs the clients against the Redis rc. Exclusion is checked by a
// record of its own: a client claims its member in a map on acquiring and
// clears the claim before releasing.
func measure(ctx context.Context, rc redis.UniversalClient, cfg config) (result, error) {
	members := make([]string, cfg.Members)
	for i := range members {
		members[i] = fmt.Sprintf("res-%d", i+1)
	}
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	p := pool.New(rdb.New(rc), map[string][]string{"bench": members}, pool.Config{Namespace: ns, TTL: cfg.TTL})

	var (
		mu        sync.Mutex
		claimedBy = make(map[string]string)
		released  = make(map[string]time.Time)
		handovers []time.Duration
		counting  atomic.Bool
		cycles    atomic.Int64
		bad       atomic.Int64
		firstErr  error
	)
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	for c := 0; c < cfg.Clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprintf("client:%d", c)
			for runCtx.Err() == nil {
				waited := false
				ls, err := p.Acquire(runCtx, []string{"bench"}, holder, func(string, int) { waited = true })
				if err != nil {
					if runCtx.Err() == nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", holder, err))
						mu.Unlock()
						stop()
					}
					return
				}
				got := time.Now()
				m := ls[0].Member
				mu.Lock()
				if claimedBy[m] != "" {
					bad.Add(1)
				}
				claimedBy[m] = holder
				if t, ok := released[m]; ok && waited && counting.Load() {
					handovers = append(handovers, got.Sub(t))
				}
				mu.Unlock()
				if cfg.Hold > 0 {
					time.Sleep(cfg.Hold)
				}
				mu.Lock()
				delete(claimedBy, m)
				released[m] = time.Now()
				mu.Unlock()
				if err := p.Release(context.WithoutCancel(runCtx), holder); err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, fmt.Errorf("%s: %w", holder, err))
					mu.Unlock()
					stop()
					return
				}
				if counting.Load() && cycles.Add(1) == cfg.Cycles {
					stop()
				}
			}
		}()
	}
	select {
	case <-time.After(cfg.Warmup):
	case <-runCtx.Done():
	}
	mu.Lock()
	handovers = handovers[:0]
	mu.Unlock()
	start := time.Now()
	counting.Store(true)
	if cfg.Cycles <= 0 {
		select {
		case <-time.After(cfg.Duration):
		case <-runCtx.Done():
		}
		stop()
	}
	<-runCtx.Done()
	elapsed := time.Since(start)
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	return result{Cycles: cycles.Load(), Elapsed: elapsed, Handovers: handovers, Violations: bad.Load()}, nil
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
