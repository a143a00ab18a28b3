package slackbench

import (
	"testing"
	"time"
)

// measurer is what the measurements need of their caller: a benchmark
// (*testing.B), or TestShort running them small (shortRun).
type measurer interface {
	testing.TB
	ReportMetric(n float64, unit string)
	ResetTimer()
	StopTimer()
}

// shortRun runs a measurement as part of a test: its figures are logged.
type shortRun struct{ *testing.T }

func (s shortRun) ReportMetric(n float64, unit string) { s.Helper(); s.Logf("%s: %g", unit, n) }
func (shortRun) ResetTimer()                           {}
func (shortRun) StopTimer()                            {}

// TestShort runs each benchmark of the package small, against the fake
// Slack and a real Redis, so that go test ./... keeps them working: slash
// commands for a second, a job printing 2,000 lines over 2 s, and three
// jobs at once in three channels. Each fails as its benchmark would.
func TestShort(t *testing.T) {
	t.Run("AckLatency", func(t *testing.T) { ackLatency(shortRun{t}, "build", 50, time.Second, 0) })
	t.Run("LiveLogCalls", func(t *testing.T) { liveLogCalls(shortRun{t}, 2000, 2*time.Second) })
	t.Run("BusyChannel", func(t *testing.T) { busyChannel(shortRun{t}, 3, 3, 200*time.Millisecond) })
}
