package jobs_test

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
)

// logEnv is a job log on a Redis of its own.
type logEnv struct {
	srv *redistest.Server
	rdb *redis.Client
	log *jobs.Log
}

// newLogEnv starts a Redis and a log on it. Unset timings are made short so
// that tests do not wait for nothing.
func newLogEnv(t *testing.T, cfg jobs.LogConfig, r *jobs.Redactor) *logEnv {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client()
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 10 * time.Millisecond
	}
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return 100 * time.Millisecond }
	}
	s := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
	return &logEnv{srv: srv, rdb: rdb, log: jobs.NewLog(s, cfg, r)}
}

// needReal skips a test that needs a real redis-server to fault.
func (e *logEnv) needReal(t *testing.T) {
	t.Helper()
	if !e.srv.Real {
		t.Fatal("this test needs a real redis-server to put faults in: install redis-server")
	}
}

func (e *logEnv) all(t *testing.T, id int64) string {
	t.Helper()
	b, err := e.log.All(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkNumbered checks that log holds "line 1" to "line n", each once and in
// order, and nothing else but lines starting with allow (if not empty).
func checkNumbered(t *testing.T, log string, n int, allow string) {
	t.Helper()
	next := 1
	for _, ln := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		num, ok := strings.CutPrefix(ln, "line ")
		if !ok {
			if allow == "" || !strings.HasPrefix(ln, allow) {
				t.Errorf("unexpected line %q", ln)
			}
			continue
		}
		num, _, _ = strings.Cut(num, " ")
		k, err := strconv.Atoi(num)
		if err != nil || k != next {
			t.Fatalf("found %q where line %d should be; log:\n%s", ln, next, around(log, ln))
		}
		next++
	}
	if next != n+1 {
		t.Fatalf("the log ends at line %d, want %d", next-1, n)
	}
}

// around is the part of log near its first line ln, for a failure message.
func around(log, ln string) string {
	i := strings.Index(log, ln+"\n")
	return log[max(0, i-300):min(len(log), i+300)]
}

func TestLogCapKeepsMaxBytesAndSaysSo(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{MaxBytes: 4096, ChunkBytes: 512}, nil)
	w := e.log.Writer(context.Background(), 7)
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(w, "line %03d %s\n", i, strings.Repeat("x", 50))
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v (the cap is not a loss)", err)
	}
	got := e.all(t, 7)
	marker := "[gantry: the log of job #7 reached its limit of 4096 bytes; later lines are not kept]\n"
	if !strings.HasSuffix(got, marker) {
		t.Fatalf("the log does not end with the cap marker:\n%s", got)
	}
	if len(got) > 4096+len(marker) {
		t.Errorf("log is %d bytes, over the cap of 4096 and its marker", len(got))
	}
	if !strings.HasPrefix(got, "line 001 ") || strings.Contains(got, "line 100") {
		t.Errorf("the log should keep the first lines and not the last:\n%s", got)
	}
	if w.Lines() != 100 {
		t.Errorf("Lines = %d, want 100 (all taken, not all kept)", w.Lines())
	}
	if e.log.DroppedBytes() != 0 {
		t.Errorf("DroppedBytes = %d: the cap is not a loss", e.log.DroppedBytes())
	}

	// A later writer of the same job (a retry) adds nothing past the marker.
	w2 := e.log.Writer(context.Background(), 7)
	w2.Line("more")
	_ = w2.Close()
	if again := e.all(t, 7); again != got {
		t.Errorf("the log grew past its cap: ...%q", again[len(got)-10:])
	}
}

func TestWriterAddsToTheLogOfAnEarlierRun(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{}, nil)
	ctx := context.Background()
	w := e.log.Writer(ctx, 3)
	w.Line("first run")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = e.log.Writer(ctx, 3)
	fmt.Fprint(w, "second run\r\nno newline at the end")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := e.all(t, 3), "first run\nsecond run\nno newline at the end\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
}

func TestLogWriteToStreamsTheWholeLog(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{}, nil)
	ctx := context.Background()
	w := e.log.Writer(ctx, 5)
	for i := 1; i <= 20000; i++ {
		fmt.Fprintf(w, "line %d of a log longer than one read range\n", i)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := e.log.WriteTo(ctx, 5, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if all := e.all(t, 5); buf.String() != all || n != int64(len(all)) || n < 600<<10 {
		t.Fatalf("WriteTo wrote %d bytes, the log has %d", n, len(all))
	}
	checkNumbered(t, buf.String(), 20000, "")

	buf.Reset()
	if n, err := e.log.WriteRange(ctx, 5, 7, 5, &buf); err != nil || n != 5 || buf.String() != "of a " {
		t.Errorf("WriteRange = %d, %v, %q", n, err, buf.String())
	}
	buf.Reset()
	if n, err := e.log.WriteTo(ctx, 404, &buf); err != nil || n != 0 {
		t.Errorf("WriteTo of a missing log = %d, %v", n, err)
	}
}

func TestLogFlushMeansStored(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{FlushEvery: time.Hour}, nil)
	w := e.log.Writer(context.Background(), 9)
	defer w.Close()
	fmt.Fprint(w, "one\ntwo\npart")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := e.all(t, 9); got != "one\ntwo\n" {
		t.Errorf("after Flush the log is %q, want the whole lines", got)
	}
}

func BenchmarkLogWriter(b *testing.B) {
	srv := redistest.Start(b)
	s := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
	l := jobs.NewLog(s, jobs.LogConfig{MaxBytes: 1 << 40}, jobs.NewRedactor("not-in-the-output", "another-secret-value"))
	line := []byte("line 12345 of the log: compiling package with some ordinary text in it\n")
	w := l.Writer(context.Background(), 1)
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, _ = w.Write(line)
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
}
