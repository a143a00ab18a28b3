package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/redis/go-redis/v9"
)

// TestMain lets the test binary act as a worker process of its own, so a
// test can kill a real worker with SIGKILL.
func TestMain(m *testing.M) {
	if addr := os.Getenv("GANTRY_TEST_WORKER_REDIS"); addr != "" {
		runWorkerProcess(addr)
		return
	}
	os.Exit(m.Run())
}

func runWorkerProcess(addr string) {
	s := jobs.NewStore(rdb.New(redis.NewClient(&redis.Options{Addr: addr})), jobs.StoreConfig{})
	l := jobs.NewLog(s, jobs.LogConfig{}, nil)
	r := local.New(local.Config{WorkDir: os.Getenv("GANTRY_TEST_WORKER_WORKDIR")})
	w := jobs.NewWorker(s, l, r, nil, jobs.WorkerConfig{
		Name: os.Getenv("GANTRY_TEST_WORKER_NAME"), LeaseTTL: time.Second, Concurrency: 2,
	})
	_ = w.Run(context.Background())
}

// startWorkerProcess starts a worker process on the Redis at addr, making
// its workspaces in workDir.
func startWorkerProcess(t *testing.T, addr, name, workDir string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GANTRY_TEST_WORKER_REDIS="+addr, "GANTRY_TEST_WORKER_NAME="+name,
		"GANTRY_TEST_WORKER_WORKDIR="+workDir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func TestKilledWorkerJobIsFinishedByAnother(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mark := filepath.Join(t.TempDir(), "mark")
	j := shellJob(t, `echo start >> "$MARK"; sleep 2; echo end >> "$MARK"`)
	j.Plan.Env["MARK"] = mark
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}

	workDir := t.TempDir()
	a := startWorkerProcess(t, e.srv.Addr, "worker-a", workDir)
	// What the killed worker leaves (its workspace, its job's cgroup) is
	// swept as a new worker would at its start.
	t.Cleanup(func() {
		if err := local.New(local.Config{WorkDir: workDir}).Sweep(context.Background()); err != nil {
			t.Errorf("sweep after the killed worker: %v", err)
		}
	})
	waitFile(t, mark, "start", 10*time.Second)
	waitState(t, e.store, j.ID, jobs.Running, time.Second)
	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()

	startWorkerProcess(t, e.srv.Addr, "worker-b", workDir)
	done := waitState(t, e.store, j.ID, jobs.Succeeded, 20*time.Second)

	b, _ := os.ReadFile(mark)
	// The killed worker's step died with it (it never wrote "end"); the
	// second worker ran the job from the start, once.
	if got := string(b); got != "start\nstart\nend\n" {
		t.Errorf("mark file = %q, want two starts and one end", got)
	}
	if done.Attempt != 1 {
		t.Errorf("attempt = %d: a crash of gantry is not an error of the job", done.Attempt)
	}
	// The job's end is recorded before its delivery is acknowledged.
	waitQueueEmpty(t, jobs.NewQueue(e.store), 10*time.Second)
	var restarted bool
	for _, ev := range allEvents(t, e.store) {
		if ev.Job == j.ID && strings.Contains(ev.Text.String(), "starting again") {
			restarted = true
		}
	}
	if !restarted {
		t.Error("no event told the thread that the job started again")
	}
}

// waitQueueEmpty polls the queue until no delivery waits or is held.
func waitQueueEmpty(t *testing.T, q *jobs.Queue, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		waiting, held, err := q.Depth(context.Background())
		if err == nil && waiting == 0 && held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue depth after %s = %d waiting, %d held (err %v), want empty", within, waiting, held, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// funcRunner is a runner whose behaviour a test scripts; the queue, store
// and worker around it are the real ones.
type funcRunner func(ctx context.Context, x *jobs.Execution) (int, error)

func (f funcRunner) Run(ctx context.Context, x *jobs.Execution) (int, error) { return f(ctx, x) }

func runWorker(t *testing.T, e *env, r jobs.Runner, cfg jobs.WorkerConfig) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := jobs.NewWorker(e.store, e.log, r, nil, cfg)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func TestErroredJobIsRetriedWithBackoffThenSucceeds(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int32
	var starts []time.Time
	runWorker(t, e, funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) {
		starts = append(starts, time.Now())
		if runs.Add(1) < 3 {
			return 0, errors.New("ecs: capacity unavailable")
		}
		return 0, nil
	}), jobs.WorkerConfig{Backoff: 200 * time.Millisecond, MaxAttempts: 3, Concurrency: 1})
	j := shellJob(t, "true")
	if err := e.store.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	done := waitState(t, e.store, j.ID, jobs.Succeeded, 10*time.Second)
	if done.Attempt != 3 || runs.Load() != 3 {
		t.Fatalf("attempt %d after %d runs, want 3 and 3", done.Attempt, runs.Load())
	}
	// Backoff doubles: at least 200ms, then 400ms.
	if gap := starts[1].Sub(starts[0]); gap < 200*time.Millisecond {
		t.Errorf("first retry after %s, want >= 200ms", gap)
	}
	if gap := starts[2].Sub(starts[1]); gap < 400*time.Millisecond {
		t.Errorf("second retry after %s, want >= 400ms", gap)
	}
	var retries []string
	for _, ev := range allEvents(t, e.store) {
		if ev.Type == jobs.EventRetry {
			retries = append(retries, ev.Text.String())
		}
	}
	want := []string{
		"errored: internal error (see log, job #1); retrying in 200ms (attempt 2 of 3)",
		"errored: internal error (see log, job #1); retrying in 400ms (attempt 3 of 3)",
	}
	if fmt.Sprint(retries) != fmt.Sprint(want) {
		t.Errorf("retry announcements:\n%q\nwant\n%q", retries, want)
	}
}

func TestErroredJobIsDeadLetteredAfterTheLimit(t *testing.T) {
	e := newEnv(t)
	runWorker(t, e, funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) {
		return 0, &jobs.UserError{Msg: "the task stopped: CannotPullContainerError"}
	}), jobs.WorkerConfig{Backoff: 10 * time.Millisecond, MaxAttempts: 2, Concurrency: 1})
	j := shellJob(t, "true")
	ctx := context.Background()
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	done := waitState(t, e.store, j.ID, jobs.Errored, 10*time.Second)
	want := "the task stopped: CannotPullContainerError; gave up after 2 attempts and dead-lettered #1"
	if done.Reason.String() != want {
		t.Errorf("reason = %q, want %q", done.Reason.String(), want)
	}
	dead, err := e.store.DeadLetters(ctx)
	if err != nil || len(dead) != 1 || dead[0] != j.ID {
		t.Errorf("dead letters = %v (err %v), want [%d]", dead, err, j.ID)
	}
	if n, err := e.store.DeadLettered(ctx); n != 1 || err != nil {
		t.Errorf("dead letters counted: %d (err %v), want 1", n, err)
	}
	var said bool
	for _, ev := range allEvents(t, e.store) {
		if ev.Job == j.ID && ev.State == jobs.Errored && ev.Text.String() == want {
			said = true
		}
	}
	if !said {
		t.Error("the errored state was not announced with the dead-letter sentence")
	}
}

func TestPermanentErrorIsNotRetried(t *testing.T) {
	e := newEnv(t)
	var runs atomic.Int32
	runWorker(t, e, funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) {
		runs.Add(1)
		return 0, jobs.Permanent(jobs.Userf("the local runner cannot start services (redis)"))
	}), jobs.WorkerConfig{Backoff: 10 * time.Millisecond})
	j := shellJob(t, "true")
	if err := e.store.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	done := waitState(t, e.store, j.ID, jobs.Errored, 5*time.Second)
	if runs.Load() != 1 || done.Reason.String() != "the local runner cannot start services (redis)" {
		t.Errorf("runs = %d, reason %q", runs.Load(), done.Reason.String())
	}
}

func TestCancelQueuedAndRunning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Queued, no worker: cancelled at once.
	q := shellJob(t, "true")
	if err := e.store.Create(ctx, q); err != nil {
		t.Fatal(err)
	}
	if prev, err := e.store.Cancel(ctx, q.ID, "U7"); err != nil || prev != jobs.Queued {
		t.Fatalf("cancel queued: %v, %v", prev, err)
	}
	if j, _ := e.store.Get(ctx, q.ID); j.State != jobs.Cancelled || j.Reason.String() != "cancelled by U7" {
		t.Fatalf("queued job after cancel: %s %q", j.State, j.Reason.String())
	}

	// Running: the worker stops it.
	pidFile := filepath.Join(t.TempDir(), "pid")
	runWorker(t, e, local.New(local.Config{Grace: time.Second}), jobs.WorkerConfig{})
	r := shellJob(t, `echo $$ > "$PIDFILE"; sleep 300 & sleep 300`)
	r.Plan.Env["PIDFILE"] = pidFile
	if err := e.store.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	waitFile(t, pidFile, "\n", 10*time.Second)
	b, _ := os.ReadFile(pidFile)
	pgid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if prev, err := e.store.Cancel(ctx, r.ID, "U7"); err != nil || prev != jobs.Running {
		t.Fatalf("cancel running: %v, %v", prev, err)
	}
	done := waitState(t, e.store, r.ID, jobs.Cancelled, 10*time.Second)
	if done.Reason.String() != "cancelled by U7" || done.CancelBy != "U7" {
		t.Errorf("reason = %q, cancelled by %q", done.Reason.String(), done.CancelBy)
	}
	if left := liveGroupMembers(pgid, 2*time.Second); len(left) > 0 {
		t.Errorf("process group %d still has live processes after cancel: %v", pgid, left)
	}
}

// liveGroupMembers lists the processes of group pgid that are not zombies
// (a zombie is dead; whether it is reaped is up to PID 1), waiting up to
// within for the group to go.
func liveGroupMembers(pgid int, within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		var live []string
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			// pid (comm) state ppid pgrp ...
			rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
			f := strings.Fields(rest)
			if len(f) > 2 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" {
				live = append(live, e.Name()+" "+f[0])
			}
		}
		if len(live) == 0 || time.Now().After(deadline) {
			return live
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestGracefulStopHandsBackWhatItCannotFinish(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mark := filepath.Join(t.TempDir(), "mark")
	j := shellJob(t, `echo run >> "$MARK"; sleep 1.5`)
	j.Plan.Env["MARK"] = mark
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	first := jobs.NewWorker(e.store, e.log, local.New(local.Config{Grace: 100 * time.Millisecond}), nil,
		jobs.WorkerConfig{Grace: 200 * time.Millisecond})
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = first.Run(wctx) }()
	waitFile(t, mark, "run", 10*time.Second)
	stop() // SIGTERM: the job cannot finish within the grace period
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop")
	}
	if got := waitState(t, e.store, j.ID, jobs.Queued, 5*time.Second); got.Attempt != 1 {
		t.Errorf("attempt %d after hand-back", got.Attempt)
	}
	runWorker(t, e, local.New(local.Config{}), jobs.WorkerConfig{})
	waitState(t, e.store, j.ID, jobs.Succeeded, 15*time.Second)
	if b, _ := os.ReadFile(mark); string(b) != "run\nrun\n" {
		t.Errorf("mark %q", b)
	}
}

func TestGracefulStopHandsBackToAWorkerAlreadyWaiting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mark := filepath.Join(t.TempDir(), "mark")
	j := shellJob(t, `echo run >> "$MARK"; sleep 1.5`)
	j.Plan.Env["MARK"] = mark
	// Two workers wait for work; whichever takes the job is stopped.
	stops := map[string]context.CancelFunc{}
	dones := map[string]chan struct{}{}
	for _, name := range []string{"a", "b"} {
		wctx, stop := context.WithCancel(ctx)
		w := jobs.NewWorker(e.store, e.log, local.New(local.Config{Grace: 100 * time.Millisecond}), nil,
			jobs.WorkerConfig{Name: name, Grace: 200 * time.Millisecond, Concurrency: 1})
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(wctx) }()
		stops[name], dones[name] = stop, done
		t.Cleanup(func() { stop(); <-done })
	}
	time.Sleep(200 * time.Millisecond) // both are blocked reading the queue
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	waitFile(t, mark, "run", 10*time.Second)
	holder, err := jobs.NewQueue(e.store).LeaseHolder(ctx, j.ID)
	if err != nil || holder == "" {
		t.Fatalf("no lease holder (%v)", err)
	}
	stops[holder]()
	<-dones[holder]
	waitState(t, e.store, j.ID, jobs.Succeeded, 15*time.Second)
	if b, _ := os.ReadFile(mark); string(b) != "run\nrun\n" {
		t.Errorf("mark %q", b)
	}
}

func TestGracefulStopLetsShortJobsFinish(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	j := shellJob(t, `sleep 0.5; echo done`)
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	w := jobs.NewWorker(e.store, e.log, local.New(local.Config{}), nil, jobs.WorkerConfig{Grace: 10 * time.Second})
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = w.Run(wctx) }()
	waitState(t, e.store, j.ID, jobs.Running, 10*time.Second)
	stop()
	<-stopped
	if got, _ := e.store.Get(ctx, j.ID); got.State != jobs.Succeeded {
		t.Fatalf("after a graceful stop the job is %s, want succeeded", got.State)
	}
}

// A job whose step leaves a process in a session of its own, holding the
// step's output, ends at its timeout all the same: within 15 s of a 5 s
// timeout, with nothing of it left running, after one run.
func TestTimedOutJobEndsWithEverythingItStarted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mark := filepath.Join(t.TempDir(), "mark")
	bg, fg := fmt.Sprintf("1000.%d", time.Now().UnixNano()%1e9), fmt.Sprintf("1001.%d", time.Now().UnixNano()%1e9)
	j := shellJob(t, `echo run >> "$MARK"; setsid sleep `+bg+` & sleep `+fg)
	j.Plan.Env["MARK"] = mark
	j.Plan.Timeout = 5 * time.Second
	runWorker(t, e, local.New(local.Config{Grace: 2 * time.Second}), jobs.WorkerConfig{})
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	waitFile(t, mark, "run", 20*time.Second)
	began := time.Now()
	done := waitState(t, e.store, j.ID, jobs.Failed, 15*time.Second)
	t.Logf("the job ended %s after its step began", time.Since(began).Round(time.Millisecond))
	if c := done.ExitCode; c != 124 && c != 128+15 && c != 128+9 {
		t.Errorf("exit %d, want that of a timeout", c)
	}
	if left := processesWith(bg, fg); len(left) > 0 {
		t.Errorf("processes of the job left running: %v", left)
	}
	if b, _ := os.ReadFile(mark); string(b) != "run\n" {
		t.Errorf("mark %q, want one run", b)
	}
}

// processesWith lists the live processes with one of args as an argument.
func processesWith(args ...string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !processAlive(pid) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for _, a := range strings.Split(string(b), "\x00") {
			if slices.Contains(args, a) {
				out = append(out, e.Name()+" "+strings.ReplaceAll(string(b), "\x00", " "))
				break
			}
		}
	}
	return out
}
