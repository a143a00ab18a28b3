package main

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
)

// TestShort runs every measurement of the program in its short mode on a
// real Redis, so that none can rot: each must get all its jobs through
// and print its result line with a figure that makes sense.
func TestShort(t *testing.T) {
	rdb := redistest.Client(t)
	cfg := shortConfig(config{Clients: 8, Workers: 2, Concurrency: 64})
	var out bytes.Buffer
	began := time.Now()
	if err := run(context.Background(), rdb, "all", cfg, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	t.Logf("short run took %v:\n%s", time.Since(began).Round(time.Millisecond), out.String())
	for _, want := range []struct{ mode, field string }{
		{"phases", "enqueue_per_s"}, {"phases", "dequeue_per_s"},
		{"steady", "p99_ms"}, {"e2e", "jobs_per_s"}, {"floor", "redis_us_per_job"},
	} {
		re := regexp.MustCompile(`(?m)^result bench=gantry mode=` + want.mode + ` .*\b` + want.field + `=([0-9.]+)`)
		m := re.FindStringSubmatch(out.String())
		if m == nil {
			t.Errorf("no %s in the %s result line", want.field, want.mode)
			continue
		}
		if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 {
			t.Errorf("%s of mode %s = %v", want.field, want.mode, v)
		}
	}
	// The same through workers with gantry serve's resource gate.
	cfg.Gates = true
	out.Reset()
	if err := run(context.Background(), rdb, "e2e", cfg, &out); err != nil {
		t.Fatalf("with a gate: %v\n%s", err, out.String())
	}
	if !regexp.MustCompile(`(?m)^result bench=gantry mode=e2e .*gates=true .*jobs_per_s=[1-9]`).MatchString(out.String()) {
		t.Errorf("with a gate:\n%s", out.String())
	}
	// Everything the runs made is gone.
	if keys, err := rdb.Keys(context.Background(), "{gantry-bench-*").Result(); err != nil || len(keys) != 0 {
		t.Errorf("keys left behind: %v (%v)", keys, err)
	}
}

func TestUnknownModeIsRefused(t *testing.T) {
	rdb := redistest.Client(t)
	if err := run(context.Background(), rdb, "fast", shortConfig(config{Clients: 1, Workers: 1, Concurrency: 1}), &bytes.Buffer{}); err == nil {
		t.Fatal("mode fast was accepted")
	}
}
