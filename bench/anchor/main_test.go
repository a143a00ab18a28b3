package main

import (
	"context"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestShort runs the anchor's short mode on a redis-server of its own:
// every task's handler must start, and no key may be left behind.
//
//	cd bench/anchor && go test ./...
func TestShort(t *testing.T) {
	addr := startRedis(t)
	cfg := config{addr: addr, db: 9, jobs: 2000, clients: 8, servers: 2, concurrency: 64, checkInterval: 5 * time.Millisecond}
	r, err := run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.elapsed <= 0 {
		t.Fatalf("elapsed %v", r.elapsed)
	}
	t.Logf("%d tasks in %v: %.0f/s", cfg.jobs, r.elapsed, float64(cfg.jobs)/r.elapsed.Seconds())
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: cfg.db})
	defer rdb.Close()
	keys, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left in db %d: %v (%v)", cfg.db, keys, err)
	}
}

// startRedis runs a redis-server without persistence on a free port for
// the test.
func startRedis(t *testing.T) string {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("this test needs redis-server on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for deadline := time.Now().Add(5 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
	}
	return addr
}
