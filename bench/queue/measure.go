package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// config is one measurement's settings. Zero values are not defaults: main
// and the test fill every field.
type config struct {
	Jobs        int // jobs per throughput measurement
	Clients     int // concurrent enqueuers (and takers in the phases)
	Workers     int // jobs.Worker instances in the whole-worker measurements
	Concurrency int // slots of each worker
	// Rate and For shape the steady measurement: a job every 1/Rate
	// seconds for For.
	Rate float64
	For  time.Duration
	// Gates gives the workers the gate `gantry serve` always has (a
	// ResourceGate; the bench's jobs ask for no resources, so they pass
	// it at once): such a worker moves each job to running after its
	// gates, in a call of its own, where one without gates starts the
	// jobs as it claims them.
	Gates bool
}

// phases is what the per-phase measurement saw: the queue's two halves
// timed apart, with no worker.
type phases struct {
	Jobs             int
	Enqueue, Dequeue time.Duration
}

// throughput is what the whole-worker measurement saw.
type throughput struct {
	Jobs    int
	Elapsed time.Duration // from the first Create to the start of the last job's runner
	// CPU time spent meanwhile by Redis and by this process (the
	// enqueuers and the workers).
	RedisCPU, OwnCPU time.Duration
}

func (t throughput) PerSecond() float64 { return float64(t.Jobs) / t.Elapsed.Seconds() }

// latencies is what the steady measurement saw: each job's time from the
// call of Create to its runner's start.
type latencies struct {
	Jobs   int
	Rate   float64       // jobs per second asked for
	Behind time.Duration // how far the enqueuers fell behind their schedule, at worst
	Waits  []time.Duration
}

// Quantile returns the q-quantile (0..1) of the waits.
func (l latencies) Quantile(q float64) time.Duration {
	if len(l.Waits) == 0 {
		return 0
	}
	s := slices.Clone(l.Waits)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// bench is a key namespace on one Redis, deleted by close.
type bench struct {
	rdb  *redis.Client
	ns   string
	plan spec.Plan
}

func newBench(rdb *redis.Client, ns string) *bench {
	return &bench{rdb: rdb, ns: ns, plan: spec.Plan{Name: "branch", Steps: []spec.Step{{Name: "true", Run: "true"}}}}
}

// store is a fresh store on the namespace, with gantry's default settings.
func (b *bench) store(ctx context.Context) *jobs.Store {
	b.cleanup(ctx)
	return jobs.NewStore(rdb.New(b.rdb), jobs.StoreConfig{Namespace: b.ns})
}

func (b *bench) job() *jobs.Job {
	return &jobs.Job{Kind: jobs.Build, Repo: "bench", Source: jobs.SourceDir, Plan: b.plan, Requester: "U1", Channel: "C1"}
}

// phases times Store.Create of cfg.Jobs jobs, then Queue.Take (batches of
// 100) and Queue.Done of all of them, with no worker running.
func (b *bench) phases(ctx context.Context, cfg config) (phases, error) {
	store := b.store(ctx)
	q := jobs.NewQueue(store)
	if err := q.Init(ctx); err != nil {
		return phases{}, err
	}
	start := time.Now()
	if err := parallel(cfg.Clients, cfg.Jobs, func(int) error { return store.Create(ctx, b.job()) }); err != nil {
		return phases{}, err
	}
	enq := time.Since(start)

	var taken atomic.Int64
	start = time.Now()
	err := parallel(cfg.Clients, cfg.Clients, func(c int) error {
		name := fmt.Sprintf("taker-%d", c)
		for taken.Load() < int64(cfg.Jobs) {
			ds, err := q.Take(ctx, name, 100, 100*time.Millisecond)
			if err != nil {
				return err
			}
			for _, d := range ds {
				if err := q.Done(ctx, d); err != nil {
					return err
				}
			}
			taken.Add(int64(len(ds)))
		}
		return nil
	})
	if err != nil {
		return phases{}, err
	}
	return phases{Jobs: cfg.Jobs, Enqueue: enq, Dequeue: time.Since(start)}, nil
}

// workers runs cfg.Workers real workers with a no-op runner that calls
// started with each job, until stop is called.
func (b *bench) workers(store *jobs.Store, cfg config, started func(j *jobs.Job)) (stop func()) {
	lg := jobs.NewLog(store, jobs.LogConfig{}, nil)
	runner := runnerFunc(func(ctx context.Context, x *jobs.Execution) (int, error) {
		started(x.Job)
		return 0, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var gates []jobs.Gate
	if cfg.Gates {
		gates = []jobs.Gate{&jobs.ResourceGate{}}
	}
	for i := 0; i < cfg.Workers; i++ {
		w := jobs.NewWorker(store, lg, runner, gates, jobs.WorkerConfig{Concurrency: cfg.Concurrency, Logger: quietLogger()})
		wg.Add(1)
		go func() { defer wg.Done(); _ = w.Run(ctx) }()
	}
	return func() { cancel(); wg.Wait() }
}

// wholeWorker enqueues cfg.Jobs jobs from cfg.Clients goroutines while the
// workers run, and times from the first Create to the start of the last
// job's runner.
func (b *bench) wholeWorker(ctx context.Context, cfg config) (throughput, error) {
	store := b.store(ctx)
	var started atomic.Int64
	var last atomic.Int64
	all := make(chan struct{})
	stop := b.workers(store, cfg, func(*jobs.Job) {
		if started.Add(1) == int64(cfg.Jobs) {
			last.Store(time.Now().UnixNano())
			close(all)
		}
	})
	defer stop()
	time.Sleep(200 * time.Millisecond) // the workers wait on the queue
	redis0, own0 := redisCPU(ctx, b.rdb), ownCPU()
	begin := time.Now()
	if err := parallel(cfg.Clients, cfg.Jobs, func(int) error { return store.Create(ctx, b.job()) }); err != nil {
		return throughput{}, err
	}
	select {
	case <-all:
	case <-time.After(time.Minute + time.Duration(cfg.Jobs)*time.Millisecond):
		return throughput{}, fmt.Errorf("only %d of %d jobs started", started.Load(), cfg.Jobs)
	}
	return throughput{
		Jobs: cfg.Jobs, Elapsed: time.Duration(last.Load() - begin.UnixNano()),
		RedisCPU: redisCPU(ctx, b.rdb) - redis0, OwnCPU: ownCPU() - own0,
	}, nil
}

// steady enqueues a job every 1/cfg.Rate seconds for cfg.For while the
// workers run, and records each job's time from the call of Create to its
// runner's start.
func (b *bench) steady(ctx context.Context, cfg config) (latencies, error) {
	store := b.store(ctx)
	n := int(cfg.Rate * cfg.For.Seconds())
	var mu sync.Mutex
	startedAt := make(map[int64]time.Time, n)
	stop := b.workers(store, cfg, func(j *jobs.Job) {
		now := time.Now()
		mu.Lock()
		startedAt[j.ID] = now
		mu.Unlock()
	})
	defer stop()
	time.Sleep(200 * time.Millisecond)

	// Open loop: job i is due at begin + i/Rate whatever happened to the
	// ones before, so a slow Create does not hide a backlog. A few
	// enqueuers take the due jobs in turn.
	created := make([]struct {
		id int64
		at time.Time
	}, n)
	begin := time.Now()
	var behind atomic.Int64
	err := parallel(cfg.Clients, n, func(i int) error {
		due := begin.Add(time.Duration(float64(i-1) / cfg.Rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		} else if -d > time.Duration(behind.Load()) {
			behind.Store(int64(-d))
		}
		j := b.job()
		at := time.Now()
		if err := store.Create(ctx, j); err != nil {
			return err
		}
		created[i-1].id, created[i-1].at = j.ID, at
		return nil
	})
	if err != nil {
		return latencies{}, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		got := len(startedAt)
		mu.Unlock()
		if got >= n {
			break
		}
		if time.Now().After(deadline) {
			return latencies{}, fmt.Errorf("only %d of %d jobs started", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	l := latencies{Jobs: n, Rate: cfg.Rate, Behind: time.Duration(behind.Load())}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range created {
		l.Waits = append(l.Waits, startedAt[c.id].Sub(c.at))
	}
	return l, nil
}

// cleanup deletes every key of the namespace.
func (b *bench) cleanup(ctx context.Context) {
	iter := b.rdb.Scan(ctx, 0, "{"+b.ns+"}:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			b.rdb.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		b.rdb.Unlink(ctx, keys...)
	}
}

type runnerFunc func(ctx context.Context, x *jobs.Execution) (int, error)

func (f runnerFunc) Run(ctx context.Context, x *jobs.Execution) (int, error) { return f(ctx, x) }

// parallel calls f(1) to f(n) from clients goroutines, and returns the
// first error.
func parallel(clients, n int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var first atomic.Value
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) || first.Load() != nil {
					return
				}
				if err := f(int(i)); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := first.Load().(error); ok {
		return err
	}
	return nil
}

// redisCPU is the CPU time Redis has used, as INFO tells it.
func redisCPU(ctx context.Context, rdb *redis.Client) time.Duration {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0
	}
	var total float64
	for _, ln := range strings.Split(info, "\r\n") {
		for _, f := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(ln, f); ok {
				x, _ := strconv.ParseFloat(v, 64)
				total += x
			}
		}
	}
	return time.Duration(total * float64(time.Second))
}

// ownCPU is the CPU time this process has used.
func ownCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
