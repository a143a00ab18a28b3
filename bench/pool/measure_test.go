package main

import (
	"context"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
)

// TestMeasure keeps the benchmark honest: a run of the program's short
// mode (-short) with contention completes cycles, sees hand-overs and no
// two clients on one member.
func TestMeasure(t *testing.T) {
	rdb := redistest.Client(t)
	r, err := measure(context.Background(), rdb, shortConfig(config{Clients: 50, Members: 3, TTL: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	if r.Cycles == 0 || len(r.Handovers) == 0 || r.Violations != 0 {
		t.Fatalf("cycles %d, hand-overs %d, violations %d", r.Cycles, len(r.Handovers), r.Violations)
	}
	if q := r.Quantile(0.5); q <= 0 || q > r.Quantile(1) {
		t.Fatalf("p50 %v, max %v", q, r.Quantile(1))
	}
}

// BenchmarkContention runs b.N take-and-release cycles of 50 clients on a
// pool of 3 and reports cycles/s and hand-over times. The test Redis writes
// an append-only file with fsync always, so expect lower numbers than
// from the command (go run ./bench/pool).
func BenchmarkContention(b *testing.B) {
	rdb := redistest.Client(b)
	r, err := measure(context.Background(), rdb, config{
		Clients: 50, Members: 3, Cycles: int64(b.N), Warmup: 200 * time.Millisecond, TTL: 30 * time.Second,
	})
	if err != nil {
		b.Fatal(err)
	}
	if r.Violations != 0 {
		b.Fatalf("%d exclusion violations", r.Violations)
	}
	b.ReportMetric(float64(r.Elapsed.Nanoseconds())/float64(r.Cycles), "ns/op")
	b.ReportMetric(r.PerSecond(), "cycles/s")
	b.ReportMetric(float64(r.Quantile(0.5).Microseconds())/1000, "handover-p50-ms")
	b.ReportMetric(float64(r.Quantile(0.99).Microseconds())/1000, "handover-p99-ms")
}
