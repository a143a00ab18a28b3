package jobs_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
)

// While Redis is unreachable for longer than the lease, the worker running
// a job stops its step before the lease lapses, and a second worker on the
// same Redis never runs the job while the first still does. Each run of
// the step takes an exclusive lock and records its start; the test watches
// each run's process to learn when it really ended (a killed run writes no
// end), so the intervals below are the runs' true lifetimes.
func TestJobNeverRunsTwiceWhileRedisIsUnreachable(t *testing.T) {
	e := newEnv(t)
	if !e.srv.Real {
		t.Fatal("this test needs a real redis-server to freeze: install redis-server")
	}
	ctx := context.Background()
	const ttl = 4 * time.Second
	dir := t.TempDir()
	runs, lock := filepath.Join(dir, "runs"), filepath.Join(dir, "lock")
	j := shellJob(t, `exec 9>>"$LOCK"
if ! flock -n 9; then echo "overlap $$" >> "$RUNS"; exit 3; fi
echo "start $$" >> "$RUNS"
sleep 6
echo "end $$" >> "$RUNS"`)
	j.Plan.Env["RUNS"], j.Plan.Env["LOCK"] = runs, lock
	watch := watchRuns(t, runs)

	startWorker(t, e, "worker-a", ttl)
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	waitFile(t, runs, "start", 20*time.Second)
	startWorker(t, e, "worker-b", ttl)

	redisPid, frozen := freezeRedis(t, e)
	first := watch.waitEnded(t, 0, 2*ttl)
	if lived := first.Sub(frozen); lived >= ttl {
		t.Errorf("the first run went on %s after Redis froze, beyond the lease's %s", lived, ttl)
	} else {
		t.Logf("the first run was stopped %s after Redis froze (lease %s)", lived.Round(time.Millisecond), ttl)
	}
	// Unreachable for twice the lease: every lease has lapsed meanwhile.
	time.Sleep(time.Until(frozen.Add(2 * ttl)))
	if err := syscall.Kill(redisPid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}

	waitState(t, e.store, j.ID, jobs.Succeeded, 60*time.Second)
	b, _ := os.ReadFile(runs)
	if strings.Contains(string(b), "overlap") {
		t.Errorf("two runs held the job's lock at once:\n%s", b)
	}
	spans := watch.stop()
	if len(spans) < 2 {
		t.Fatalf("runs: %v, want the stopped one and the one that finished", spans)
	}
	for i := 1; i < len(spans); i++ {
		if spans[i].start.Before(spans[i-1].end) {
			t.Errorf("run %d (%v) began before run %d ended (%v)", i, spans[i], i-1, spans[i-1])
		}
	}
}

func startWorker(t *testing.T, e *env, name string, ttl time.Duration) {
	t.Helper()
	s := jobs.NewStore(e.srv.RDB(), jobs.StoreConfig{})
	l := jobs.NewLog(s, jobs.LogConfig{FlushEvery: 20 * time.Millisecond}, jobs.NewRedactor())
	ctx, cancel := context.WithCancel(context.Background())
	w := jobs.NewWorker(s, l, local.New(local.Config{Grace: time.Second}), nil,
		jobs.WorkerConfig{Name: name, LeaseTTL: ttl, Concurrency: 1, Grace: time.Second})
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// freezeRedis stops the test's redis-server with SIGSTOP: connections stay
// open and every command hangs, as on a partitioned network. It returns
// the server's pid and when it froze.
func freezeRedis(t *testing.T, e *env) (int, time.Time) {
	t.Helper()
	info, err := e.srv.Client().Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid <= 0 {
		t.Fatal("redis-server did not tell its pid")
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	return pid, time.Now()
}

// span is one run's lifetime, as the test saw it.
type span struct{ start, end time.Time }

// runWatch follows the runs file: for each "start PID" line it notes when
// the line appeared and when process PID was gone.
type runWatch struct {
	mu    sync.Mutex
	spans []span
	pids  []int
	quit  chan struct{}
	done  chan struct{}
}

func watchRuns(t *testing.T, path string) *runWatch {
	w := &runWatch{quit: make(chan struct{}), done: make(chan struct{})}
	go w.loop(path)
	t.Cleanup(func() { w.stop() })
	return w
}

func (w *runWatch) loop(path string) {
	defer close(w.done)
	for {
		select {
		case <-w.quit:
			return
		case <-time.After(5 * time.Millisecond):
		}
		now := time.Now()
		w.mu.Lock()
		for i, pid := range w.pids {
			if w.spans[i].end.IsZero() && !processAlive(pid) {
				w.spans[i].end = now
			}
		}
		for _, pid := range startedPids(path)[len(w.pids):] {
			w.pids = append(w.pids, pid)
			w.spans = append(w.spans, span{start: now})
		}
		w.mu.Unlock()
	}
}

// waitEnded waits for run i to end, and returns when it did.
func (w *runWatch) waitEnded(t *testing.T, i int, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		w.mu.Lock()
		if i < len(w.spans) && !w.spans[i].end.IsZero() {
			end := w.spans[i].end
			w.mu.Unlock()
			return end
		}
		w.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("run %d did not end within %s", i, within)
	return time.Time{}
}

// stop ends the watch once every run has ended, and returns the runs.
func (w *runWatch) stop() []span {
	select {
	case <-w.quit:
	default:
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !w.allEnded() {
			time.Sleep(5 * time.Millisecond)
		}
		close(w.quit)
	}
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]span(nil), w.spans...)
}

func (w *runWatch) allEnded() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.spans {
		if s.end.IsZero() {
			return false
		}
	}
	return true
}

func startedPids(path string) []int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var pids []int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "start "); ok {
			if pid, err := strconv.Atoi(v); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	return rest[0] != 'Z' && rest[0] != 'X'
}
