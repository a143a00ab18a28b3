// Command queue measures gantry's job queue on a real Redis: how fast jobs
// go in (Store.Create), how fast workers take them out (Queue.Take and
// Queue.Done), and enqueue-to-start through the whole worker with a no-op
// runner. It prints redis-benchmark's LPUSH/RPOP figures beside them.
//
//	go run ./bench/queue -redis 127.0.0.1:6379 -jobs 50000
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	n := flag.Int("jobs", 50000, "jobs per measurement")
	clients := flag.Int("clients", 8, "concurrent enqueuers and takers")
	flag.Parse()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: 4 * *clients})
	defer rdb.Close()

	ns := fmt.Sprintf("gantry-bench-%d", os.Getpid())
	defer cleanup(ctx, rdb, ns)
	store := jobs.NewStore(rdb, jobs.StoreConfig{Namespace: ns, EventsMaxLen: 1000})
	q := jobs.NewQueue(store)
	if err := q.Init(ctx); err != nil {
		log.Fatal(err)
	}
	plan := spec.Plan{Name: "branch", Steps: []spec.Step{{Name: "true", Run: "true"}}}

	// 1. Enqueue.
	start := time.Now()
	parallel(*clients, *n, func(i int) {
		j := &jobs.Job{Kind: jobs.Build, Repo: "bench", Source: jobs.SourceDir, Plan: plan, Requester: "U1", Channel: "C1"}
		if err := store.Create(ctx, j); err != nil {
			log.Fatal(err)
		}
	})
	enq := time.Since(start)

	// 2. Dequeue: take in batches and acknowledge each.
	var taken atomic.Int64
	start = time.Now()
	var wg sync.WaitGroup
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			name := fmt.Sprintf("taker-%d", c)
			for taken.Load() < int64(*n) {
				ds, err := q.Take(ctx, name, 100, 100*time.Millisecond)
				if err != nil {
					log.Fatal(err)
				}
				for _, d := range ds {
					if err := q.Done(ctx, d); err != nil {
						log.Fatal(err)
					}
				}
				taken.Add(int64(len(ds)))
			}
		}(c)
	}
	wg.Wait()
	deq := time.Since(start)

	// 3. Enqueue to start through the real worker, with a runner that
	// does nothing: the cost of gantry's own bookkeeping per job.
	cleanup(ctx, rdb, ns)
	store = jobs.NewStore(rdb, jobs.StoreConfig{Namespace: ns, EventsMaxLen: 1000})
	lg := jobs.NewLog(store, jobs.LogConfig{}, nil)
	var started atomic.Int64
	e2eN := *n / 5
	doneAll := make(chan struct{})
	runner := runnerFunc(func(ctx context.Context, x *jobs.Execution) (int, error) {
		if started.Add(1) == int64(e2eN) {
			close(doneAll)
		}
		return 0, nil
	})
	wctx, cancel := context.WithCancel(ctx)
	var ww sync.WaitGroup
	for i := 0; i < 2; i++ {
		w := jobs.NewWorker(store, lg, runner, nil, jobs.WorkerConfig{Concurrency: 64, Logger: quietLogger()})
		ww.Add(1)
		go func() { defer ww.Done(); _ = w.Run(wctx) }()
	}
	start = time.Now()
	parallel(*clients, e2eN, func(i int) {
		j := &jobs.Job{Kind: jobs.Build, Repo: "bench", Source: jobs.SourceDir, Plan: plan, Requester: "U1", Channel: "C1"}
		if err := store.Create(ctx, j); err != nil {
			log.Fatal(err)
		}
	})
	<-doneAll
	e2e := time.Since(start)
	cancel()
	ww.Wait()

	fmt.Printf("jobs per measurement: %d (end to end: %d), clients: %d\n", *n, e2eN, *clients)
	fmt.Printf("enqueue (Store.Create):                %8.0f jobs/s\n", float64(*n)/enq.Seconds())
	fmt.Printf("dequeue (Queue.Take + Queue.Done):     %8.0f jobs/s\n", float64(*n)/deq.Seconds())
	fmt.Printf("enqueue+dequeue, one job through both: %8.0f jobs/s\n", float64(*n)/(enq+deq).Seconds())
	fmt.Printf("enqueue to start, whole worker:        %8.0f jobs/s\n", float64(e2eN)/e2e.Seconds())
	host, port, _ := strings.Cut(*addr, ":")
	out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-t", "lpush,rpop", "-n", "100000", "-c", fmt.Sprint(*clients), "-q").CombinedOutput()
	if err != nil {
		fmt.Printf("redis-benchmark: %v\n", err)
		return
	}
	fmt.Printf("redis-benchmark -t lpush,rpop -n 100000 -c %d -q:\n%s", *clients, lastLines(string(out)))
}

type runnerFunc func(ctx context.Context, x *jobs.Execution) (int, error)

func (f runnerFunc) Run(ctx context.Context, x *jobs.Execution) (int, error) { return f(ctx, x) }

func parallel(clients, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				f(int(i))
			}
		}()
	}
	wg.Wait()
}

func cleanup(ctx context.Context, rdb *redis.Client, ns string) {
	iter := rdb.Scan(ctx, 0, "{"+ns+"}:*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
		if len(keys) == 500 {
			rdb.Unlink(ctx, keys...)
			keys = keys[:0]
		}
	}
	if len(keys) > 0 {
		rdb.Unlink(ctx, keys...)
	}
}

func lastLines(s string) string {
	var out []string
	for _, ln := range strings.Split(s, "\r") {
		if strings.Contains(ln, "requests per second") {
			out = append(out, "  "+strings.TrimSpace(ln))
		}
	}
	return strings.Join(out, "\n") + "\n"
}
