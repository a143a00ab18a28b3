// Command pool measures package pool under contention: lease take-and-release
// cycles per second with many clients on a small pool, and the hand-over
// time from one client's release to the next waiter's acquisition.
//
//	go run ./bench/pool -clients 50 -members 3 -duration 10s
//	go run ./bench/pool -short    # a second of it
//
// With no -redis URL it starts a redis-server from PATH on a free loopback
// port (persistence off, or -aof for an append-only file synced every
// second) and stops it afterwards.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pool:", err)
		os.Exit(1)
	}
}

func run() error {
	var cfg config
	url := flag.String("redis", "", "redis:// URL of the Redis to use (default: start a redis-server)")
	aof := flag.Bool("aof", false, "with a started redis-server: append-only file, fsync every second")
	flag.IntVar(&cfg.Clients, "clients", 50, "contending clients")
	flag.IntVar(&cfg.Members, "members", 3, "members of the pool")
	flag.DurationVar(&cfg.Hold, "hold", 0, "how long a client holds a member")
	flag.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to measure")
	flag.DurationVar(&cfg.Warmup, "warmup", time.Second, "how long to run before measuring")
	flag.DurationVar(&cfg.TTL, "ttl", 30*time.Second, "lease TTL")
	short := flag.Bool("short", false, "a short run: 1s after a warmup of 200ms")
	flag.Parse()
	if *short {
		cfg = shortConfig(cfg)
	}
	if cfg.Clients < 1 || cfg.Members < 1 {
		return errors.New("-clients and -members must be at least 1")
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	if *url == "" {
		addr, stop, err := startRedis(ctx, *aof)
		if err != nil {
			return err
		}
		defer stop()
		*url = "redis://" + addr + "/0"
	}
	opt, err := redis.ParseURL(*url)
	if err != nil {
		return fmt.Errorf("-redis: %w", err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	r, err := measure(ctx, rdb, cfg)
	if err != nil {
		return err
	}
	fmt.Printf("clients=%d members=%d hold=%v ttl=%v cpus=%d\n",
		cfg.Clients, cfg.Members, cfg.Hold, cfg.TTL, runtime.NumCPU())
	fmt.Printf("cycles: %d in %v = %.0f/s\n", r.Cycles, r.Elapsed.Round(time.Millisecond), r.PerSecond())
	fmt.Printf("hand-over (n=%d): p50 %v  p90 %v  p99 %v  max %v\n", len(r.Handovers),
		r.Quantile(0.50).Round(time.Microsecond), r.Quantile(0.90).Round(time.Microsecond),
		r.Quantile(0.99).Round(time.Microsecond), r.Quantile(1).Round(time.Microsecond))
	fmt.Printf("exclusion violations: %d\n", r.Violations)
	if r.Violations != 0 {
		return fmt.Errorf("%d exclusion violations", r.Violations)
	}
	return nil
}

// shortConfig shrinks cfg to a run of about a second.
func shortConfig(cfg config) config {
	cfg.Duration, cfg.Warmup = time.Second, 200*time.Millisecond
	return cfg
}

// startRedis runs a redis-server on a free loopback port until stop.
func startRedis(ctx context.Context, aof bool) (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("no redis-server on PATH: install one or pass -redis URL")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir, err := os.MkdirTemp("", "bench-pool-redis")
	if err != nil {
		return "", nil, err
	}
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--loglevel", "warning"}
	if aof {
		args = append(args, "--appendonly", "yes", "--appendfsync", "everysec")
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); c.Ping(ctx).Err() != nil; {
		if time.Now().After(deadline) {
			stop()
			return "", nil, fmt.Errorf("redis-server on %s did not answer", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr, stop, nil
}
