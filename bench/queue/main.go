// Command queue measures gantry's job queue on a real Redis.
//
//   - -mode e2e (the headline): jobs go through the whole worker. Clients
//     call Store.Create while -workers real jobs.Worker instances of
//     -concurrency slots run them with a runner that does nothing; each job
//     is leased, read, marked running, given a log writer, run, marked
//     succeeded and acknowledged, with every announcement. The clock starts
//     at the first Create and stops when the last job's runner starts.
//   - -mode steady: a job every 1/-rate seconds for -for through the same
//     workers; it reports the time from each Create call to its runner's
//     start (p50, p99, max).
//   - -mode phases: the queue's halves apart, with no worker: Store.Create
//     of -jobs jobs, then Queue.Take (batches of 100) and Queue.Done of
//     them; and redis-benchmark's LPUSH/RPOP on the same Redis.
//   - -mode floor: the Redis commands of a job's life (create, take,
//     claim, read, finish) sent bare, with no script, in pipelines of 100
//     jobs from one connection; it reports Redis's CPU a job, the least any
//     code can spend while it keeps what gantry's scripts keep.
//   - -mode all: the four.
//
// Every job uses gantry's default store and log settings (events kept:
// 100,000; log cap 64 MiB). Keys live in a namespace of their own, deleted
// afterwards. The throughput modes end with a machine-readable line:
//
//	result bench=gantry mode=e2e jobs=20000 workers=2 concurrency=64 gates=false clients=8 seconds=1.234 jobs_per_s=16207
//
//	go run ./bench/queue -redis 127.0.0.1:6379 -mode e2e -jobs 20000
//	go run ./bench/queue -mode steady -rate 1000 -for 10s
//	go run ./bench/queue -mode e2e -gates   # workers with gantry serve's resource gate
//	go run ./bench/queue -mode floor -jobs 40000
//	go run ./bench/queue -short     # every mode, small, in a few seconds
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	mode := flag.String("mode", "all", "e2e, steady, phases, floor or all")
	short := flag.Bool("short", false, "every measurement small: a run of a few seconds")
	cfg := config{}
	flag.IntVar(&cfg.Jobs, "jobs", 20000, "jobs per throughput measurement")
	flag.IntVar(&cfg.Clients, "clients", 8, "concurrent enqueuers (and takers in -mode phases)")
	flag.IntVar(&cfg.Workers, "workers", 2, "workers in -mode e2e and steady")
	flag.IntVar(&cfg.Concurrency, "concurrency", 64, "slots of each worker")
	flag.Float64Var(&cfg.Rate, "rate", 1000, "jobs per second in -mode steady")
	flag.DurationVar(&cfg.For, "for", 10*time.Second, "how long -mode steady enqueues")
	flag.BoolVar(&cfg.Gates, "gates", false, "give the workers the resource gate gantry serve has (the jobs pass it at once)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *short {
		cfg = shortConfig(cfg)
	}
	rdb := redis.NewClient(&redis.Options{Addr: *addr, PoolSize: 4 * cfg.Clients})
	defer rdb.Close()
	if err := run(context.Background(), rdb, *mode, cfg, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		log.Fatal(err)
	}
	if *mode == "phases" || *mode == "all" {
		redisBenchmark(*addr, cfg.Clients)
	}
}

// shortConfig shrinks cfg to a run of a few seconds.
func shortConfig(cfg config) config {
	cfg.Jobs = 2000
	cfg.Rate, cfg.For = 500, time.Second
	return cfg
}

// run makes the measurements of mode and writes what they saw to out.
func run(ctx context.Context, rdb *redis.Client, mode string, cfg config, out io.Writer) error {
	switch mode {
	case "e2e", "steady", "phases", "floor", "all":
	default:
		return fmt.Errorf("-mode %q: want e2e, steady, phases, floor or all", mode)
	}
	b := newBench(rdb, fmt.Sprintf("gantry-bench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6))
	defer b.cleanup(context.Background())
	persistence := redisPersistence(ctx, rdb)
	if mode == "phases" || mode == "all" {
		p, err := b.phases(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "phases, no worker (%d jobs, %d clients; Redis %s):\n", p.Jobs, cfg.Clients, persistence)
		fmt.Fprintf(out, "  enqueue (Store.Create):            %8.0f jobs/s\n", float64(p.Jobs)/p.Enqueue.Seconds())
		fmt.Fprintf(out, "  dequeue (Queue.Take + Queue.Done): %8.0f jobs/s\n", float64(p.Jobs)/p.Dequeue.Seconds())
		fmt.Fprintf(out, "result bench=gantry mode=phases jobs=%d clients=%d enqueue_per_s=%.0f dequeue_per_s=%.0f\n",
			p.Jobs, cfg.Clients, float64(p.Jobs)/p.Enqueue.Seconds(), float64(p.Jobs)/p.Dequeue.Seconds())
	}
	if mode == "steady" || mode == "all" {
		l, err := b.steady(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "steady %.0f jobs/s for %s through the whole worker (%d workers x %d slots%s; Redis %s):\n",
			l.Rate, cfg.For, cfg.Workers, cfg.Concurrency, gated(cfg), persistence)
		fmt.Fprintf(out, "  Create call to runner start, %d jobs: p50 %s  p99 %s  max %s (enqueuers at worst %s behind schedule)\n",
			l.Jobs, ms(l.Quantile(0.5)), ms(l.Quantile(0.99)), ms(l.Quantile(1)), ms(l.Behind))
		fmt.Fprintf(out, "result bench=gantry mode=steady jobs=%d rate=%.0f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
			l.Jobs, l.Rate, msf(l.Quantile(0.5)), msf(l.Quantile(0.99)), msf(l.Quantile(1)))
	}
	if mode == "e2e" || mode == "all" {
		t, err := b.wholeWorker(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "enqueue to start through the whole worker (%d jobs, %d clients, %d workers x %d slots%s, %d CPUs; Redis %s): %.0f jobs/s\n",
			t.Jobs, cfg.Clients, cfg.Workers, cfg.Concurrency, gated(cfg), runtime.NumCPU(), persistence, t.PerSecond())
		fmt.Fprintf(out, "  CPU meanwhile: Redis %.2fs (%.1fµs a job), this process %.2fs (%.1fµs a job)\n",
			t.RedisCPU.Seconds(), perJob(t.RedisCPU, t.Jobs), t.OwnCPU.Seconds(), perJob(t.OwnCPU, t.Jobs))
		fmt.Fprintf(out, "result bench=gantry mode=e2e jobs=%d workers=%d concurrency=%d gates=%v clients=%d seconds=%.3f jobs_per_s=%.0f\n",
			t.Jobs, cfg.Workers, cfg.Concurrency, cfg.Gates, cfg.Clients, t.Elapsed.Seconds(), t.PerSecond())
	}
	if mode == "floor" || mode == "all" {
		f, err := b.floor(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "floor: a job's Redis commands bare, %d jobs a pipeline, one connection (%d jobs; Redis %s):\n", floorBatch, f.Jobs, persistence)
		fmt.Fprintf(out, "  Redis CPU %.2fs, %.1fµs a job\n", f.RedisCPU.Seconds(), perJob(f.RedisCPU, f.Jobs))
		fmt.Fprintf(out, "result bench=gantry mode=floor jobs=%d redis_us_per_job=%.1f\n", f.Jobs, perJob(f.RedisCPU, f.Jobs))
	}
	return nil
}

func gated(cfg config) string {
	if cfg.Gates {
		return ", with a resource gate"
	}
	return ""
}

func perJob(d time.Duration, jobs int) float64 { return float64(d.Microseconds()) / float64(jobs) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", msf(d)) }

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// redisPersistence says whether the Redis writes an append-only file or
// snapshots, as its CONFIG tells.
func redisPersistence(ctx context.Context, rdb *redis.Client) string {
	cfg, err := rdb.ConfigGet(ctx, "*").Result()
	if err != nil {
		return "persistence unknown"
	}
	aof := "off"
	if cfg["appendonly"] == "yes" {
		aof = "appendfsync " + cfg["appendfsync"]
	}
	save := cfg["save"]
	if save == "" {
		save = "off"
	}
	return fmt.Sprintf("AOF %s, RDB snapshots %s", aof, save)
}

// redisBenchmark prints redis-benchmark's LPUSH and RPOP on the same Redis.
func redisBenchmark(addr string, clients int) {
	host, port, _ := strings.Cut(addr, ":")
	out, err := exec.Command("redis-benchmark", "-h", host, "-p", port, "-t", "lpush,rpop", "-n", "100000", "-c", fmt.Sprint(clients), "-q").CombinedOutput()
	if err != nil {
		fmt.Printf("redis-benchmark: %v\n", err)
		return
	}
	fmt.Printf("redis-benchmark -t lpush,rpop -n 100000 -c %d -q:\n", clients)
	for _, ln := range strings.Split(string(out), "\r") {
		if strings.Contains(ln, "requests per second") {
			fmt.Println("  " + strings.TrimSpace(ln))
		}
	}
}
