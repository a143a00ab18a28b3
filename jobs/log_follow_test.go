package jobs_test

import (
	"context"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/jobs"
)

// following runs Log.Follow of job id in the background and collects what
// it delivers, until end is called.
type following struct {
	mu   sync.Mutex
	got  strings.Builder
	stop atomic.Bool
	done chan error
}

func follow(ctx context.Context, l *jobs.Log, id int64) *following {
	f := &following{done: make(chan error, 1)}
	go func() {
		_, err := l.Follow(ctx, id, 0, 10*time.Millisecond, f.stop.Load, func(b []byte) error {
			f.mu.Lock()
			f.got.Write(b)
			f.mu.Unlock()
			return nil
		})
		f.done <- err
	}()
	return f
}

func (f *following) text() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got.String()
}

// waitFor waits until the follower delivered s.
func (f *following) waitFor(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(f.text(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("the follower never delivered %q; it has %q", s, f.text())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// end tells the follower the job ended and waits for it to return.
func (f *following) end(t *testing.T) string {
	t.Helper()
	f.stop.Store(true)
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("Follow: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after the job ended")
	}
	return f.text()
}

func writeLines(w *jobs.LogWriter, from, to int) {
	for i := from; i <= to; i++ {
		fmt.Fprintf(w, "line %d\n", i)
	}
}

// shorten makes job id's log end after its line n, as a failover to a
// replica that had not received the rest would.
func (e *logEnv) shorten(t *testing.T, id int64, n int) {
	t.Helper()
	all := e.all(t, id)
	cut := strings.Index(all, fmt.Sprintf("line %d\n", n+1))
	if err := e.rdb.Set(context.Background(), rdb.NewKeys("").Log(id), all[:cut], 0).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestFollowAcrossALogThatGotShorterDoesNotReplay(t *testing.T) {
	t.Run("the writer puts the tail back", func(t *testing.T) {
		e := newLogEnv(t, jobs.LogConfig{}, nil)
		ctx := context.Background()
		w := e.log.Writer(ctx, 1)
		f := follow(ctx, e.log, 1)
		writeLines(w, 1, 10)
		f.waitFor(t, "line 10\n")
		e.shorten(t, 1, 5)
		time.Sleep(100 * time.Millisecond) // the follower sees the shorter log
		writeLines(w, 11, 20)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		checkNumbered(t, e.all(t, 1), 20, "")
		checkNumbered(t, f.end(t), 20, "")
	})
	t.Run("the tail is lost for good", func(t *testing.T) {
		e := newLogEnv(t, jobs.LogConfig{RetainBytes: -1}, nil)
		ctx := context.Background()
		w := e.log.Writer(ctx, 1)
		f := follow(ctx, e.log, 1)
		writeLines(w, 1, 10)
		f.waitFor(t, "line 10\n")
		e.shorten(t, 1, 5)
		time.Sleep(100 * time.Millisecond)
		writeLines(w, 11, 20)
		err := w.Close()
		if err == nil || !strings.Contains(err.Error(), "36 bytes of output not kept") {
			t.Errorf("Close = %v, want the 36 bytes of lines 6-10 reported lost", err)
		}
		stored := e.all(t, 1)
		note := "[gantry: 36 bytes of this log from byte 35 were lost by Redis"
		if !strings.Contains(stored, "line 5\n"+note) || !strings.HasSuffix(stored, "line 11\n"+strings.Join(numbered(12, 20), "")) {
			t.Errorf("stored log:\n%s", stored)
		}
		// The follower delivered lines 6-10 before they were lost, and
		// then only what is new: the note and lines 11-20.
		checkNumbered(t, f.end(t), 20, note)
	})
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %d\n", i))
	}
	return out
}

// countingHook counts the commands a client sends.
type countingHook struct{ n atomic.Int64 }

func (h *countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

func TestFollowDoesNotSpinOnALogThatGotShorter(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{}, nil)
	ctx := context.Background()
	w := e.log.Writer(ctx, 1)
	writeLines(w, 1, 10)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f := follow(ctx, e.log, 1)
	f.waitFor(t, "line 10\n")
	e.shorten(t, 1, 5) // and no writer left to put it back
	hook := &countingHook{}
	e.rdb.AddHook(hook)
	time.Sleep(time.Second)
	// Polling every 10 ms is up to 100 polls of two commands each.
	if n := hook.n.Load(); n > 250 {
		t.Errorf("the follower sent %d commands in a second", n)
	}
	e.rdb.Append(ctx, rdb.NewKeys("").Log(1), "line 6\n") // grows, still short of what was delivered
	time.Sleep(50 * time.Millisecond)
	checkNumbered(t, f.end(t), 10, "")
}

func TestFollowRidesOutRedisBeingDown(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{}, nil)
	e.needReal(t)
	ctx := context.Background()
	w := e.log.Writer(ctx, 1)
	f := follow(ctx, e.log, 1)
	writeLines(w, 1, 5)
	f.waitFor(t, "line 5\n")
	e.srv.Stop()
	writeLines(w, 6, 10)
	time.Sleep(time.Second) // the follower's reads fail meanwhile
	e.srv.StartAgain()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	checkNumbered(t, f.end(t), 10, "")
}

func TestFollowDeliversALineLongerThanItsWindow(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{}, nil)
	ctx := context.Background()
	w := e.log.Writer(ctx, 1)
	f := follow(ctx, e.log, 1)
	long := strings.Repeat("0123456789abcdef", 200<<10) // 3.2 MB
	fmt.Fprint(w, "first\n"+long+"\nlast\n")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "last\n")
	if got := f.end(t); got != e.all(t, 1) || got != "first\n"+long+"\nlast\n" {
		t.Errorf("delivered %d bytes, the log has %d", len(got), len(e.all(t, 1)))
	}
}
