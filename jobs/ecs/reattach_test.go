package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/ecs"
)

func deregister(arn string) *awsecs.DeregisterTaskDefinitionInput {
	return &awsecs.DeregisterTaskDefinitionInput{TaskDefinition: aws.String(arn)}
}

// slowTask is a task that prints "line 1" .. "line N" over d while its one
// step runs, then exits 0.
func slowTask(n int, d time.Duration) func(string) awsserver.TaskScript {
	return func(m string) awsserver.TaskScript {
		logs := []awsserver.LogLine{{Container: "job", Message: startMark(m, 1)}}
		for i := 1; i <= n; i++ {
			logs = append(logs, awsserver.LogLine{Container: "job", Message: fmt.Sprintf("line %d", i), At: d * time.Duration(i) / time.Duration(n+1)})
		}
		logs = append(logs, awsserver.LogLine{Container: "job", Message: endMark(m, 1, 0), At: d})
		return awsserver.TaskScript{
			Phases: []awsserver.Phase{{Status: "PROVISIONING", For: 10 * time.Millisecond}, {Status: "RUNNING", For: d + 20*time.Millisecond}},
			Logs:   logs, ExitCodes: map[string]int32{"fetch": 0, "job": 0},
		}
	}
}

// checkLines checks that "line 1".."line n" all reached the log in order,
// each once.
func checkLines(t *testing.T, log string, n int) {
	t.Helper()
	var want []string
	for i := 1; i <= n; i++ {
		want = append(want, fmt.Sprintf("line %d\n", i))
		if c := strings.Count(log, fmt.Sprintf("line %d\n", i)); c != 1 {
			t.Errorf("line %d is in the log %d times, want once", i, c)
		}
	}
	assertInOrder(t, log, want...)
}

func TestCancelStopsTheTask(t *testing.T) {
	f := newFixture(t)
	f.scripted(func(m string) awsserver.TaskScript {
		return awsserver.TaskScript{Logs: awsserver.Lines("job", time.Millisecond, startMark(m, 1), "working"),
			UntilStopped: true, StopDelay: 30 * time.Millisecond, StopExitCodes: map[string]int32{"job": 143}}
	})
	f.worker(f.runner(), jobs.WorkerConfig{Concurrency: 1})
	j := f.job("sleep 600")
	f.create(j)
	waitFor(t, "the step's output", 10*time.Second, func() bool { return strings.Contains(f.logText(j.ID), "working") })
	if _, err := f.store.Cancel(context.Background(), j.ID, "U123"); err != nil {
		t.Fatal(err)
	}
	done := f.waitState(j.ID, jobs.Cancelled, 10*time.Second)
	if done.Reason.String() != "cancelled by @U123" {
		t.Errorf("reason %q", done.Reason.String())
	}
	task := f.aws.Tasks()[0]
	want := fmt.Sprintf("gantry: job #%d cancelled by @U123", j.ID)
	if task.LastStatus != "STOPPED" || len(task.StopRequests) != 1 || task.StopRequests[0] != want {
		t.Errorf("task %s with stop requests %q, want STOPPED after %q", task.LastStatus, task.StopRequests, want)
	}
	assertInOrder(t, f.logText(j.ID), "working", "── cancelled by @U123; stopping ECS task", "── step 1/1 failed with exit code 143")
}

// A worker that stops (its context ends with ErrShutdown) leaves the task
// running and hands the job back; the next worker re-attaches to the task
// by its ARN and follows its log from the cursor.
func TestShutdownHandsBackAndTheNextWorkerReattaches(t *testing.T) {
	f := newFixture(t)
	f.scripted(slowTask(20, 1500*time.Millisecond))
	first, stop := context.WithCancel(context.Background())
	w1 := jobs.NewWorker(f.store, f.log, f.runner(), nil, jobs.WorkerConfig{Name: "first", Concurrency: 1, Grace: time.Millisecond})
	stopped := make(chan struct{})
	go func() { defer close(stopped); _ = w1.Run(first) }()

	j := f.job("make")
	f.create(j)
	waitFor(t, "line 3 in the log", 10*time.Second, func() bool { return strings.Contains(f.logText(j.ID), "line 3\n") })
	stop() // the worker stops: after its 1ms grace, the job's context ends with ErrShutdown
	<-stopped
	task := f.aws.Tasks()[0]
	if task.LastStatus == "STOPPED" || len(task.StopRequests) > 0 {
		t.Fatalf("the stopping worker stopped the task: %s, %q", task.LastStatus, task.StopRequests)
	}
	held, err := f.store.Get(context.Background(), j.ID)
	if err != nil || held.State != jobs.Running || held.Handle != task.ARN || held.Cursor == "" {
		t.Fatalf("handed-back job: state %s, handle %q, cursor %q (err %v)", held.State, held.Handle, held.Cursor, err)
	}

	f.worker(f.runner(), jobs.WorkerConfig{Name: "second", Concurrency: 1})
	done := f.waitState(j.ID, jobs.Succeeded, 10*time.Second)
	if n := f.aws.Count("RunTask"); n != 1 {
		t.Errorf("RunTask called %d times, want 1", n)
	}
	log := f.logText(j.ID)
	checkLines(t, log, 20)
	assertInOrder(t, log, "line 3", "── re-attached to ECS task "+taskIDOf(task.ARN), "line 20", "── step 1/1 succeeded")
	if done.Attempt != 1 {
		t.Errorf("attempt %d, want 1: a worker stopping is not an error of the job", done.Attempt)
	}
}

// A worker process killed with SIGKILL while its task runs is replaced by
// a worker that reclaims the job once the dead one's lease lapses and
// re-attaches to the task; RunTask was called once.
func TestKilledWorkerIsReplacedByOneThatReattaches(t *testing.T) {
	f := newFixture(t)
	f.scripted(slowTask(20, 3*time.Second))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), f.aws.Env()...), "GANTRY_ECS_TEST_WORKER_REDIS="+f.redis.Addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	j := f.job("make")
	f.create(j)
	waitFor(t, "line 3 in the log", 15*time.Second, func() bool { return strings.Contains(f.logText(j.ID), "line 3\n") })
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	f.worker(f.runner(), jobs.WorkerConfig{Name: "replacement", Concurrency: 1, LeaseTTL: time.Second})
	done := f.waitState(j.ID, jobs.Succeeded, 15*time.Second)
	if n := f.aws.Count("RunTask"); n != 1 {
		t.Errorf("RunTask called %d times, want 1", n)
	}
	task := f.aws.Tasks()[0]
	if done.Handle != task.ARN || len(task.StopRequests) > 0 {
		t.Errorf("handle %q (task %s), stop requests %q", done.Handle, task.ARN, task.StopRequests)
	}
	log := f.logText(j.ID)
	assertInOrder(t, log, "line 3", "── re-attached to ECS task "+taskIDOf(task.ARN), "line 20", "── step 1/1 succeeded")
	// A line copied just before the kill may be copied again (the cursor
	// is saved after the lines); the rest arrive once, in order.
	for i := 1; i <= 20; i++ {
		if c := strings.Count(log, fmt.Sprintf("line %d\n", i)); c < 1 || (c > 1 && i > 10) {
			t.Errorf("line %d is in the log %d times", i, c)
		}
	}
}

// Re-attaching directly: the runner, given a job whose record has a task
// ARN, follows that task and starts none.
func TestRunWithHandleFollowsThatTask(t *testing.T) {
	f := newFixture(t)
	f.scripted(slowTask(5, 300*time.Millisecond))
	ctx, cancel := context.WithCancelCause(context.Background())
	j := f.job("make")
	f.create(j)
	id := j.ID
	go func() {
		if !eventually(10*time.Second, func() bool { return strings.Contains(logOf(f, id), "line 2\n") }) {
			t.Error("line 2 never reached the log")
		}
		cancel(jobs.ErrShutdown)
	}()
	_, err, _ := f.run(ctx, f.runner(), j)
	if err != jobs.ErrShutdown {
		t.Fatalf("err %v, want ErrShutdown", err)
	}
	again, _ := f.store.Get(context.Background(), j.ID)
	code, err, log := f.run(context.Background(), f.runner(), again)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	checkLines(t, log, 5)
	if n := f.aws.Count("RunTask"); n != 1 {
		t.Errorf("RunTask called %d times, want 1", n)
	}

	bogus := f.job("true")
	bogus.Handle = "pid:1234"
	if _, err, _ := f.run(context.Background(), f.runner(), bogus); err == nil || !strings.Contains(err.Error(), "not an ECS task ARN") {
		t.Errorf("handle pid:1234: %v", err)
	}
}

func taskIDOf(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// logOf reads a job's log without failing the test (for goroutines).
func logOf(f *fixture, id int64) string {
	b, _ := f.log.All(context.Background(), id)
	return string(b)
}

// lateReply is an ECS client whose first RunTask reply comes after the
// job was cancelled: the task was started, but the runner never saw it.
type lateReply struct {
	ecs.ECSAPI
	cancel context.CancelCauseFunc
	once   bool
}

func (l *lateReply) RunTask(ctx context.Context, in *awsecs.RunTaskInput, opts ...func(*awsecs.Options)) (*awsecs.RunTaskOutput, error) {
	out, err := l.ECSAPI.RunTask(ctx, in, opts...)
	if !l.once {
		l.once = true
		l.cancel(&jobs.CancelError{By: "U9"})
		return nil, context.Canceled
	}
	return out, err
}

// A cancel that lands while RunTask is in flight does not leave a task
// running unseen: the runner asks again with the same client token, gets
// the task that was started, and stops it.
func TestCancelDuringRunTaskStopsTheTaskItStarted(t *testing.T) {
	f := newFixture(t)
	f.aws.Script(func(ecstypes.TaskDefinition, awsecs.RunTaskInput) awsserver.TaskScript {
		return awsserver.RunUntilStopped()
	})
	ctx, cancel := context.WithCancelCause(context.Background())
	cfg := runnerConfig(f.aws.Region())
	r, err := ecs.New(&lateReply{ECSAPI: f.cli.ECS, cancel: cancel}, f.cli.Logs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err, _ = f.run(ctx, r, f.job("sleep 600"))
	var ce *jobs.CancelError
	if !errors.As(err, &ce) {
		t.Fatalf("err %v, want the cancel", err)
	}
	tasks := f.aws.Tasks()
	if len(tasks) != 1 {
		t.Fatalf("%d tasks, want the one that was started", len(tasks))
	}
	if len(tasks[0].StopRequests) != 1 || !strings.Contains(tasks[0].StopRequests[0], "cancelled by U9") {
		t.Errorf("stop requests %q, want one naming the cancel", tasks[0].StopRequests)
	}
}
