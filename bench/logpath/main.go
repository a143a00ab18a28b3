// Command logpath measures gantry's log path: a step run by the local
// runner prints many lines; they go through the job's LogWriter into Redis.
// It reports lines per second from the step's start until the whole log is
// in Redis, checks that every line arrived, and the process's peak RSS.
//
//	go run ./bench/logpath -redis 127.0.0.1:6379 -lines 200000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/spec"
)

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	lines := flag.Int("lines", 200000, "lines the step prints")
	flag.Parse()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: *addr})
	defer rdb.Close()
	ns := fmt.Sprintf("gantry-logbench-%d", os.Getpid())
	store := jobs.NewStore(rdb, jobs.StoreConfig{Namespace: ns})
	lg := jobs.NewLog(store, jobs.LogConfig{MaxBytes: 512 << 20}, jobs.NewRedactor("not-in-the-output"))
	defer func() {
		keys, _ := rdb.Keys(ctx, "{"+ns+"}:*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	}()

	script := fmt.Sprintf(`seq -f "line %%g of the log: compiling package with some ordinary text in it" 1 %d`, *lines)
	plan := spec.Plan{Name: "branch", Timeout: 10 * time.Minute, Steps: []spec.Step{{Name: "print", Run: script}}}
	j := &jobs.Job{Kind: jobs.Build, Repo: "bench", Source: jobs.SourceDir, Path: os.TempDir() + "/gantry-logbench-src", Plan: plan}
	if err := os.MkdirAll(j.Path, 0o755); err != nil {
		log.Fatal(err)
	}
	if err := store.Create(ctx, j); err != nil {
		log.Fatal(err)
	}
	r := local.New(local.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rssBefore := rss("VmRSS")
	start := time.Now()
	w := lg.Writer(ctx, j.ID)
	code, err := r.Run(ctx, jobs.NewExecution(store, j, w))
	if err != nil || code != 0 {
		log.Fatalf("step: code %d, err %v", code, err)
	}
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}
	took := time.Since(start)
	peak := rss("VmHWM") // before the check below reads the whole log back
	all, err := lg.All(ctx, j.ID)
	if err != nil {
		log.Fatal(err)
	}
	got := 0
	for _, ln := range bytes.Split(all, []byte("\n")) {
		if bytes.HasPrefix(ln, []byte("line ")) {
			got++
		}
	}
	if got != *lines {
		log.Fatalf("log has %d of %d lines", got, *lines)
	}
	fmt.Printf("lines: %d, all in the log; bytes: %d\n", got, len(all))
	fmt.Printf("throughput: %.0f lines/s (%.2fs from step start to log complete)\n", float64(got)/took.Seconds(), took.Seconds())
	fmt.Printf("RSS before: %s; peak RSS while the step ran (VmHWM): %s\n", rssBefore, peak)
}

func rss(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "?"
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(ln, field+":") {
			return strings.TrimSpace(strings.TrimPrefix(ln, field+":"))
		}
	}
	return "?"
}
