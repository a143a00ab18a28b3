package jobs_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
)

// These tests run a real worker with the local runner against a real
// redis-server, and fault that Redis while a job prints a numbered line
// every 100 ms: the job must succeed with every line in its stored log
// once, in order. They last as long as the faults they stage (up to about
// 40 s), so they run in parallel. The only fixed sleeps are the faults'
// own durations; everything else is polled with a generous deadline.

// numberedStep prints "line 1" to "line n", one every 100 ms.
const numberedStep = `for i in $(seq 1 %d); do echo "line $i"; sleep 0.1; done`

func TestJobKeepsEveryLineAcrossRedisRestart(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t) // with an append-only file, fsynced at every write
	if !srv.Real {
		t.Fatal("this test needs a real redis-server to restart: install redis-server")
	}
	r := newFaultRig(t, srv.Client())
	// gantry's default lease: an outage of a few seconds is well inside it.
	r.startWorker(t, "worker-a", 15*time.Second)
	j := r.queueNumbered(t, 60)

	// Mid-job: ten lines are stored and fifty are to come. Redis stays
	// down for longer than the client's own retries last (about a
	// second), so the log writer has to keep what the step prints.
	r.waitLogHas(t, j.ID, "line 10\n", time.Minute)
	srv.Stop() // SIGKILL, as a crash would
	time.Sleep(3 * time.Second)
	srv.StartAgain() // same port, same append-only file

	r.checkEveryLineOnce(t, j.ID, 60, 2*time.Minute)
}

func TestJobKeepsEveryLineWhileRedisIsUnreachable20s(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	if !srv.Real {
		t.Fatal("this test needs a real redis-server to stop: install redis-server")
	}
	r := newFaultRig(t, srv.Client())
	// A worker that cannot renew a job's lease for 2/3 of its TTL stops
	// the step (fencing): once the lease lapses another worker may start
	// the job. With gantry's default 15 s lease, a 20 s outage does just
	// that, and the job runs again from the start when Redis is back. This
	// test is about a step that runs through the outage, so the lease
	// (60 s) outlives it; and a second worker waits on the same Redis to
	// show that the job is not handed to it meanwhile.
	const lease = 60 * time.Second
	r.startWorker(t, "worker-a", lease)
	j := r.queueNumbered(t, 300) // 30 s or more: the outage falls inside it

	// Three seconds in: the step has at least 27 s to go, the outage 20.
	r.waitLogHas(t, j.ID, "line 30\n", time.Minute)
	r.startWorker(t, "worker-b", lease)
	srv.Stop()
	time.Sleep(20 * time.Second)
	srv.StartAgain()

	r.checkEveryLineOnce(t, j.ID, 300, 3*time.Minute)
}

func TestJobKeepsEveryLineAcrossSentinelFailover(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	// What gantry builds for REDIS_URL=redis+sentinel://…: a client that
	// asks the sentinels where the master is, and asks again after a
	// failover.
	rdb := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Sentinels})
	t.Cleanup(func() { _ = rdb.Close() })
	r := newFaultRig(t, rdb)
	// A failover takes a few seconds here (the sentinels wait a second,
	// then elect), longer on a loaded machine. The lease (60 s, so 40 s
	// before fencing) outlives it, so that the step runs through it.
	r.startWorker(t, "worker-a", 60*time.Second)
	j := r.queueNumbered(t, 60)

	r.waitLogHas(t, j.ID, "line 15\n", time.Minute)
	old := s.KillMaster()
	promoted := s.WaitForFailover(old)
	t.Logf("master %s killed; %s promoted", old, promoted)

	r.checkEveryLineOnce(t, j.ID, 60, 3*time.Minute)
	// Replication is asynchronous: the replica may miss the last chunks
	// the old master took, and the writer then puts them back from the
	// copy it keeps (see sender.repair). On one machine the replica rarely
	// lags, so this is reported, not required.
	t.Logf("tails put back by the writer after the failover: %d", r.said.count("job log in Redis is shorter than what was written"))
}

// faultRig is a store and a job log on a Redis that a test faults, and
// what gantry logged meanwhile (shown when the test fails).
type faultRig struct {
	store *jobs.Store
	log   *jobs.Log
	said  *saidLog
}

func newFaultRig(t *testing.T, rc redis.UniversalClient) *faultRig {
	t.Helper()
	said := &saidLog{}
	logger := slog.New(&saidHandler{said: said})
	store := jobs.NewStore(rdb.New(rc), jobs.StoreConfig{})
	// Close waits longer than its default 30 s for Redis to take what is
	// buffered: on a loaded machine a failover may end after the step.
	l := jobs.NewLog(store, jobs.LogConfig{CloseWait: 2 * time.Minute, Logger: logger}, jobs.NewRedactor())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("what gantry logged:\n%s", said.text())
		}
	})
	return &faultRig{store: store, log: l, said: said}
}

// startWorker runs a worker with the local runner until the test ends.
func (r *faultRig) startWorker(t *testing.T, name string, lease time.Duration) {
	t.Helper()
	logger := slog.New(&saidHandler{said: r.said, attrs: " worker=" + name})
	runner := local.New(local.Config{Grace: time.Second, Logger: logger})
	w := jobs.NewWorker(r.store, r.log, runner, nil, jobs.WorkerConfig{
		Name: name, LeaseTTL: lease, Concurrency: 1, Grace: time.Second, Logger: logger,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// queueNumbered queues a job whose one step prints n numbered lines.
func (r *faultRig) queueNumbered(t *testing.T, n int) *jobs.Job {
	t.Helper()
	j := shellJob(t, fmt.Sprintf(numberedStep, n))
	j.Plan.Timeout = 10 * time.Minute // the faults, not the timeout, are under test
	if err := r.store.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// waitLogHas polls job id's stored log until it contains s, waiting out
// Redis errors.
func (r *faultRig) waitLogHas(t *testing.T, id int64, s string, within time.Duration) {
	t.Helper()
	var log []byte
	var err error
	poll(t, within, func() bool {
		log, err = r.log.All(context.Background(), id)
		return err == nil && strings.Contains(string(log), s)
	}, func() string {
		return fmt.Sprintf("the log of job #%d never had %q (last read: %v):\n%s", id, s, err, log)
	})
}

// waitFinal polls job id until it reaches a final state, waiting out
// Redis errors, and returns it.
func (r *faultRig) waitFinal(t *testing.T, id int64, within time.Duration) *jobs.Job {
	t.Helper()
	var j *jobs.Job
	var err error
	poll(t, within, func() bool {
		j, err = r.store.Get(context.Background(), id)
		return err == nil && j.State.Final()
	}, func() string {
		if j == nil {
			return fmt.Sprintf("job #%d could not be read: %v", id, err)
		}
		return fmt.Sprintf("job #%d is still %s (last read: %v)", id, j.State, err)
	})
	return j
}

// checkEveryLineOnce waits for job id to end and checks that it
// succeeded at its first attempt, ran its step once, and stored "line 1"
// to "line n" once each, in order, with nothing dropped.
func (r *faultRig) checkEveryLineOnce(t *testing.T, id int64, n int, within time.Duration) {
	t.Helper()
	began := time.Now()
	j := r.waitFinal(t, id, within)
	t.Logf("job #%d ended %s %s after the fault was over; the log writer reported Redis away %d times, workers failed to renew a lease %d times",
		id, j.State, time.Since(began).Round(time.Millisecond),
		r.said.count("cannot write job log to Redis; keeping output until it is back"), r.said.count("renew job lease"))
	if j.State != jobs.Succeeded {
		t.Fatalf("job #%d ended %s (%s), want succeeded", id, j.State, j.Reason.String())
	}
	if j.Attempt != 1 {
		t.Errorf("job #%d succeeded at attempt %d: Redis's fault was taken for the job's", id, j.Attempt)
	}
	var log []byte
	var err error
	poll(t, 30*time.Second, func() bool {
		log, err = r.log.All(context.Background(), id)
		return err == nil
	}, func() string { return fmt.Sprintf("read the log of job #%d: %v", id, err) })
	checkLinesOnce(t, string(log), n)
	if runs := strings.Count(string(log), "── step 1/1: "); runs != 1 {
		t.Errorf("the step ran %d times, want once", runs)
	}
	if d := r.log.DroppedBytes(); d != 0 {
		t.Errorf("the log path dropped %d bytes", d)
	}
}

// checkLinesOnce checks a stored log whose step printed "line 1" to
// "line n": each is there once, in order, and nothing else is but
// gantry's own "── " lines. It names every line missing, repeated or out
// of place.
func checkLinesOnce(t *testing.T, log string, n int) {
	t.Helper()
	seen := make(map[int]int, n)
	last := 0
	var problems []string
	for _, ln := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if strings.HasPrefix(ln, "── ") {
			continue
		}
		num, ok := strings.CutPrefix(ln, "line ")
		k, err := strconv.Atoi(num)
		if !ok || err != nil || k < 1 || k > n {
			problems = append(problems, fmt.Sprintf("unexpected line %q", ln))
			continue
		}
		seen[k]++
		if seen[k] == 2 {
			problems = append(problems, fmt.Sprintf("line %d is stored more than once", k))
		} else if k != last+1 {
			problems = append(problems, fmt.Sprintf("line %d follows line %d", k, last))
		}
		last = k
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if seen[k] == 0 {
			missing = append(missing, strconv.Itoa(k))
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%d lines missing: %s", len(missing), strings.Join(missing, " ")))
	}
	if len(problems) > 0 {
		t.Errorf("the stored log is not lines 1 to %d once each, in order:\n%s\nlog:\n%s", n, strings.Join(problems, "\n"), log)
	}
}

// poll calls done until it reports true, failing the test with why()
// after within.
func poll(t *testing.T, within time.Duration, done func() bool, why func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, why())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// saidLog keeps what gantry logged during a test.
type saidLog struct {
	mu    sync.Mutex
	lines []string
	msgs  map[string]int
}

func (s *saidLog) add(msg, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.msgs == nil {
		s.msgs = map[string]int{}
	}
	s.msgs[msg]++
	s.lines = append(s.lines, line)
}

// count is how many times gantry logged msg.
func (s *saidLog) count(msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs[msg]
}

func (s *saidLog) text() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.lines, "\n")
}

// saidHandler is a slog.Handler that writes to a saidLog.
type saidHandler struct {
	said  *saidLog
	attrs string
}

func (h *saidHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *saidHandler) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s%s", rec.Time.Format("15:04:05.000"), rec.Level, rec.Message, h.attrs)
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.said.add(rec.Message, b.String())
	return nil
}

func (h *saidHandler) WithAttrs(as []slog.Attr) slog.Handler {
	attrs := h.attrs
	for _, a := range as {
		attrs += fmt.Sprintf(" %s=%v", a.Key, a.Value)
	}
	return &saidHandler{said: h.said, attrs: attrs}
}

func (h *saidHandler) WithGroup(string) slog.Handler { return h }
