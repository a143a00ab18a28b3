// Command anchor measures asynq's no-op throughput on a Redis, as the
// anchor that gantry's whole-worker figure (go run ./bench/queue -mode e2e)
// is compared with. It lives in a module of its own so that asynq never
// enters gantry's go.mod: the root module's ./... does not descend here.
//
// It starts -servers asynq servers of -concurrency each with a handler
// that does nothing but count, then -clients goroutines enqueue -jobs
// tasks. The clock starts at the first enqueue and stops when the handler
// of the last task starts: enqueue-to-handler-start throughput, the same
// span gantry's figure measures.
//
//	cd bench/anchor && go run . -redis 127.0.0.1:6379 -jobs 20000
//
// Its last line is machine-readable:
//
//	result bench=asynq jobs=20000 servers=2 concurrency=64 clients=8 seconds=2.104 jobs_per_s=9506
//
// asynq polls an empty queue, sleeping TaskCheckInterval (default 1s,
// with jitter) each time it finds none, which would mostly measure that
// sleep: -check-interval sets it (default 5ms), in asynq's favour. The
// tasks go to a queue of their own, in Redis database -db; its keys are
// deleted afterwards.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

type config struct {
	addr          string
	db            int
	jobs          int
	clients       int
	servers       int
	concurrency   int
	checkInterval time.Duration
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "redis", "127.0.0.1:6379", "Redis address")
	flag.IntVar(&cfg.db, "db", 9, "Redis database for the anchor's keys")
	flag.IntVar(&cfg.jobs, "jobs", 20000, "tasks to enqueue and run")
	flag.IntVar(&cfg.clients, "clients", 8, "concurrent enqueuers")
	flag.IntVar(&cfg.servers, "servers", 2, "asynq servers")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "handlers per server")
	flag.DurationVar(&cfg.checkInterval, "check-interval", 5*time.Millisecond, "asynq's TaskCheckInterval")
	short := flag.Bool("short", false, "a run of a few seconds: 2,000 tasks")
	flag.Parse()
	if *short {
		cfg.jobs = 2000
	}
	r, err := run(context.Background(), cfg)
	if err != nil {
		log.Fatal(err)
	}
	took := r.elapsed
	fmt.Printf("asynq %s, %d servers x %d handlers, %d enqueuers, TaskCheckInterval %s\n",
		asynqVersion, cfg.servers, cfg.concurrency, cfg.clients, cfg.checkInterval)
	fmt.Printf("  CPU meanwhile: Redis %.2fs (%.1fµs a job), this process %.2fs (%.1fµs a job)\n",
		r.redisCPU.Seconds(), perJob(r.redisCPU, cfg.jobs), r.ownCPU.Seconds(), perJob(r.ownCPU, cfg.jobs))
	fmt.Printf("result bench=asynq jobs=%d servers=%d concurrency=%d clients=%d seconds=%.3f jobs_per_s=%.0f\n",
		cfg.jobs, cfg.servers, cfg.concurrency, cfg.clients, took.Seconds(), float64(cfg.jobs)/took.Seconds())
}

const asynqVersion = "v0.26.0"

// result is what a run saw.
type result struct {
	elapsed time.Duration // from the first enqueue to the start of the last handler
	// CPU time spent meanwhile by Redis and by this process (the
	// enqueuers and the servers).
	redisCPU, ownCPU time.Duration
}

func perJob(d time.Duration, jobs int) float64 { return float64(d.Microseconds()) / float64(jobs) }

// run enqueues cfg.jobs no-op tasks while the servers run, and times them
// from the first enqueue to the start of the last handler.
func run(ctx context.Context, cfg config) (result, error) {
	queue := fmt.Sprintf("anchor-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	opt := asynq.RedisClientOpt{Addr: cfg.addr, DB: cfg.db, PoolSize: 4 * cfg.clients}
	rdb := redis.NewClient(&redis.Options{Addr: cfg.addr, DB: cfg.db})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return result{}, fmt.Errorf("redis %s: %w", cfg.addr, err)
	}
	defer cleanup(context.Background(), rdb, queue)

	var started atomic.Int64
	var last atomic.Int64 // unix nanoseconds of the last handler start
	all := make(chan struct{})
	handler := asynq.HandlerFunc(func(context.Context, *asynq.Task) error {
		if started.Add(1) == int64(cfg.jobs) {
			last.Store(time.Now().UnixNano())
			close(all)
		}
		return nil
	})
	quiet := asynq.LogLevel(asynq.ErrorLevel)
	var servers []*asynq.Server
	for i := 0; i < cfg.servers; i++ {
		srv := asynq.NewServer(opt, asynq.Config{
			Concurrency: cfg.concurrency, Queues: map[string]int{queue: 1},
			TaskCheckInterval: cfg.checkInterval, LogLevel: quiet, Logger: discard{},
		})
		if err := srv.Start(handler); err != nil {
			return result{}, fmt.Errorf("start asynq server: %w", err)
		}
		servers = append(servers, srv)
	}
	defer func() {
		for _, s := range servers {
			s.Shutdown()
		}
	}()
	time.Sleep(200 * time.Millisecond) // the servers are polling

	client := asynq.NewClient(opt)
	defer client.Close()
	var next atomic.Int64
	var wg sync.WaitGroup
	var enqErr atomic.Value
	redis0, own0 := redisCPU(ctx, rdb), ownCPU()
	begin := time.Now()
	for c := 0; c < cfg.clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(cfg.jobs) {
				if _, err := client.EnqueueContext(ctx, asynq.NewTask("noop", nil), asynq.Queue(queue), asynq.MaxRetry(0)); err != nil {
					enqErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := enqErr.Load().(error); err != nil {
		return result{}, fmt.Errorf("enqueue: %w", err)
	}
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		return result{}, fmt.Errorf("only %d of %d handlers started within 2 minutes", started.Load(), cfg.jobs)
	}
	return result{
		elapsed:  time.Duration(last.Load() - begin.UnixNano()),
		redisCPU: redisCPU(ctx, rdb) - redis0, ownCPU: ownCPU() - own0,
	}, nil
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

// cleanup deletes the queue's keys and its name from asynq's list of
// queues. The servers remove their own entries when they shut down.
func cleanup(ctx context.Context, rdb *redis.Client, queue string) {
	var keys []string
	iter := rdb.Scan(ctx, 0, "asynq:{"+queue+"}:*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		rdb.Unlink(ctx, keys[:n]...)
		keys = keys[n:]
	}
	rdb.SRem(ctx, "asynq:queues", queue)
	if n, err := rdb.SCard(ctx, "asynq:queues").Result(); err == nil && n == 0 {
		rdb.Del(ctx, "asynq:queues")
	}
	if err := iter.Err(); err != nil && !errors.Is(err, redis.Nil) {
		log.Printf("clean up queue %s: %v", queue, err)
	}
}

// discard is an asynq.Logger that drops everything but what says why the
// run cannot go on.
type discard struct{}

func (discard) Debug(...any) {}
func (discard) Info(...any)  {}
func (discard) Warn(...any)  {}
func (discard) Error(...any) {}
func (discard) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, strings.TrimSpace(fmt.Sprint(args...)))
	os.Exit(1)
}
