// Command logpath measures gantry's log path: a step run by the local
// runner prints many lines; they go through the job's LogWriter into Redis.
// It reports lines per second from the step's start until the whole log is
// in Redis, checks that every line arrived, and the process's peak RSS.
//
//	go run ./bench/logpath -redis 127.0.0.1:6379 -lines 200000
//	go run ./bench/logpath -short    # 20,000 lines: a run of a second or two
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

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/spec"
)

func main() {
	addr := flag.String("redis", "127.0.0.1:6379", "Redis address")
	lines := flag.Int("lines", 200000, "lines the step prints")
	short := flag.Bool("short", false, "a short run: 20,000 lines")
	flag.Parse()
	if *short {
		*lines = 20000
	}
	rdb := redis.NewClient(&redis.Options{Addr: *addr})
	defer rdb.Close()
	if err := run(context.Background(), rdb, *lines, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// result is what one run saw.
type result struct {
	Lines, Bytes int
	Took         time.Duration // from the step's start until the whole log is in Redis
}

// run runs a job whose step prints n lines through the local runner into a
// job log on rc, checks that every line is in the log, and writes what it
// saw to out.
func run(ctx context.Context, rc *redis.Client, n int, out io.Writer) error {
	ns := fmt.Sprintf("gantry-logbench-%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	store := jobs.NewStore(rdb.New(rc), jobs.StoreConfig{Namespace: ns})
	lg := jobs.NewLog(store, jobs.LogConfig{MaxBytes: 512 << 20}, jobs.NewRedactor("not-in-the-output"))
	defer func() {
		keys, _ := rc.Keys(context.Background(), "{"+ns+"}:*").Result()
		if len(keys) > 0 {
			rc.Del(context.Background(), keys...)
		}
	}()
	src, err := os.MkdirTemp("", "gantry-logbench-src")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)

	script := fmt.Sprintf(`seq -f "line %%g of the log: compiling package with some ordinary text in it" 1 %d`, n)
	plan := spec.Plan{Name: "branch", Timeout: 10 * time.Minute, Steps: []spec.Step{{Name: "print", Run: script}}}
	j := &jobs.Job{Kind: jobs.Build, Repo: "bench", Source: jobs.SourceDir, Path: src, Plan: plan}
	if err := store.Create(ctx, j); err != nil {
		return err
	}
	r := local.New(local.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rssBefore := rss("VmRSS")
	start := time.Now()
	w := lg.Writer(ctx, j.ID)
	code, err := r.Run(ctx, jobs.NewExecution(store, j, w))
	if err != nil || code != 0 {
		return fmt.Errorf("step: code %d, err %v", code, err)
	}
	if err := w.Close(); err != nil {
		return err
	}
	res := result{Took: time.Since(start)}
	peak := rss("VmHWM") // before the check below reads the whole log back
	all, err := lg.All(ctx, j.ID)
	if err != nil {
		return err
	}
	for _, ln := range bytes.Split(all, []byte("\n")) {
		if bytes.HasPrefix(ln, []byte("line ")) {
			res.Lines++
		}
	}
	res.Bytes = len(all)
	if res.Lines != n {
		return fmt.Errorf("log has %d of %d lines", res.Lines, n)
	}
	fmt.Fprintf(out, "lines: %d, all in the log; bytes: %d\n", res.Lines, res.Bytes)
	fmt.Fprintf(out, "throughput: %.0f lines/s (%.2fs from step start to log complete)\n", float64(res.Lines)/res.Took.Seconds(), res.Took.Seconds())
	fmt.Fprintf(out, "RSS before: %s; peak RSS while the step ran (VmHWM): %s\n", rssBefore, peak)
	fmt.Fprintf(out, "result bench=logpath lines=%d seconds=%.3f lines_per_s=%.0f\n", res.Lines, res.Took.Seconds(), float64(res.Lines)/res.Took.Seconds())
	return nil
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
