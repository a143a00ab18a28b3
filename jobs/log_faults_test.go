package jobs_test

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// These tests fault a real redis-server under a writer. They take as long
// as the faults they stage (up to half a minute); the two 20-second ones run
// in parallel.

func TestLogKeepsEveryLineAcrossRedisRestarts(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{}, nil)
	e.needReal(t)
	w := e.log.Writer(context.Background(), 1)
	// A real process prints a numbered line every 100 ms into the writer.
	cmd := exec.Command("bash", "-c", `for i in $(seq 1 60); do echo line $i; sleep 0.1; done`)
	cmd.Stdout = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for _, at := range []time.Duration{1500 * time.Millisecond, 3500 * time.Millisecond} {
		time.Sleep(time.Until(began.Add(at)))
		e.srv.Restart() // killed and started again with its append-only file
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	checkNumbered(t, e.all(t, 1), 60, "")
	if n := e.log.DroppedBytes(); n != 0 {
		t.Errorf("DroppedBytes = %d", n)
	}
	t.Logf("60 lines over %s with two restarts: all kept once, in order", time.Since(began).Round(time.Millisecond))
}

func TestLogKeepsEveryLineWhileRedisIsUnreachableFor20s(t *testing.T) {
	faults := map[string]struct{ begin, end func(e *logEnv) }{
		// SIGSTOP: the client's timed-out appends sit in the server's
		// socket buffers and run late, when it wakes, after their retries.
		"frozen": {func(e *logEnv) { e.srv.Pause() }, func(e *logEnv) { e.srv.Continue() }},
		"down":   {func(e *logEnv) { e.srv.Stop() }, func(e *logEnv) { e.srv.StartAgain() }},
	}
	for name, f := range faults {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newLogEnv(t, jobs.LogConfig{}, nil)
			e.needReal(t)
			w := e.log.Writer(context.Background(), 1)
			const lines = 250
			written := make(chan time.Duration)
			go func() { written <- writeNumbered(w, lines, 100*time.Millisecond) }()
			time.Sleep(2 * time.Second)
			f.begin(e)
			time.Sleep(20 * time.Second)
			f.end(e)
			slowest := <-written
			closing := time.Now()
			if err := w.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			checkNumbered(t, e.all(t, 1), lines, "")
			if slowest > 250*time.Millisecond {
				t.Errorf("a Write took %s: the writer waited for Redis", slowest)
			}
			if n := e.log.DroppedBytes(); n != 0 {
				t.Errorf("DroppedBytes = %d", n)
			}
			t.Logf("%s for 20s: %d lines kept once, in order; slowest Write %s; Close took %s",
				name, lines, slowest, time.Since(closing).Round(time.Millisecond))
		})
	}
}

// writeNumbered writes "line 1" to "line n" to w, one every interval, and
// returns how long the slowest Write took.
func writeNumbered(w *jobs.LogWriter, n int, interval time.Duration) time.Duration {
	var slowest time.Duration
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := 1; i <= n; i++ {
		began := time.Now()
		fmt.Fprintf(w, "line %d\n", i)
		slowest = max(slowest, time.Since(began))
		<-t.C
	}
	return slowest
}

var droppedNote = regexp.MustCompile(`\[gantry: (\d+) bytes of output were dropped here: Redis was unreachable`)

func TestLogSaysHowMuchWasDroppedWhenTheBufferOverflows(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{ChunkBytes: 1024, BufferBytes: 4096, StallWait: 500 * time.Millisecond}, nil)
	e.needReal(t)
	w := e.log.Writer(context.Background(), 1)
	fmt.Fprintln(w, "line 1")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	e.srv.Stop()
	began := time.Now()
	total := 0
	for i := 2; i <= 500; i++ {
		n, _ := fmt.Fprintf(w, "line %d %s\n", i, strings.Repeat("z", 40))
		total += n
		if i%50 == 0 {
			time.Sleep(30 * time.Millisecond) // let timed flushes cut chunks
		}
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("writing while Redis was down took %s: Write waited for it", took)
	}
	e.srv.StartAgain()
	err := w.Close()
	if err == nil || !strings.Contains(err.Error(), "bytes of output not kept") {
		t.Errorf("Close = %v, want a report of the loss", err)
	}
	log := e.all(t, 1)
	m := droppedNote.FindAllStringSubmatch(log, -1)
	if len(m) != 1 {
		t.Fatalf("want one note of dropped output, found %d in\n%s", len(m), log)
	}
	dropped, _ := strconv.ParseInt(m[0][1], 10, 64)
	if dropped != e.log.DroppedBytes() || dropped != w.Dropped() || dropped == 0 {
		t.Errorf("note says %d bytes, DroppedBytes %d, Dropped %d", dropped, e.log.DroppedBytes(), w.Dropped())
	}
	// What is kept: the first line, the oldest chunk that was being sent,
	// the note, and the newest output, in order; together with the
	// dropped bytes, everything that was written.
	kept := 0
	last := 0
	for _, ln := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if strings.HasPrefix(ln, "[gantry:") {
			continue
		}
		num, _, _ := strings.Cut(strings.TrimPrefix(ln, "line "), " ")
		k, _ := strconv.Atoi(num)
		if k <= last {
			t.Fatalf("line %d after line %d", k, last)
		}
		last = k
		if k > 1 {
			kept += len(ln) + 1
		}
	}
	if last != 500 {
		t.Errorf("the newest line kept is %d, want 500", last)
	}
	if int64(kept)+dropped != int64(total) {
		t.Errorf("kept %d + dropped %d bytes != %d written", kept, dropped, total)
	}
}

func TestLogCloseGivesUpAfterCloseWaitAndReportsTheLoss(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{CloseWait: 300 * time.Millisecond}, nil)
	e.needReal(t)
	e.srv.Stop()
	w := e.log.Writer(context.Background(), 1)
	fmt.Fprintln(w, "line 1 never stored")
	began := time.Now()
	err := w.Close()
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("Close took %s with a CloseWait of 300ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), "20 bytes of output not kept") {
		t.Errorf("Close = %v", err)
	}
	if e.log.DroppedBytes() != 20 {
		t.Errorf("DroppedBytes = %d, want 20", e.log.DroppedBytes())
	}
}
