package ecs_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
)

func TestCapacityFailuresAreRetriedThenReported(t *testing.T) {
	f := newFixture(t)
	r := f.runner()
	f.aws.FailRunTask(2, awsserver.Failure{Reason: "RESOURCE:MEMORY", Detail: "no container instance has enough memory"})
	code, err, log := f.run(context.Background(), r, f.job())
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v after two capacity failures", code, err)
	}
	if n := f.aws.Count("RunTask"); n != 3 {
		t.Errorf("RunTask called %d times, want 3", n)
	}
	if n := strings.Count(log, "── ECS could not place the task (RESOURCE:MEMORY (no container instance has enough memory)); trying again"); n != 2 {
		t.Errorf("%d retry lines in the log, want 2:\n%s", n, log)
	}

	// Through the worker: each run tries PlaceAttempts (4) times; the
	// worker retries the errored job, then dead-letters it.
	f.worker(r, jobs.WorkerConfig{Concurrency: 1, MaxAttempts: 2, Backoff: 10 * time.Millisecond})
	f.aws.FailRunTask(8, awsserver.Failure{Reason: "RESOURCE:CPU"})
	before := f.aws.Count("RunTask")
	j := f.job("true")
	f.create(j)
	done := f.waitState(j.ID, jobs.Errored, 20*time.Second)
	want := "ECS could not place the task after 4 tries: RESOURCE:CPU; gave up after 2 attempts and dead-lettered"
	if !strings.Contains(done.Reason.String(), want) {
		t.Errorf("reason %q, want it to contain %q", done.Reason.String(), want)
	}
	if n := f.aws.Count("RunTask") - before; n != 8 {
		t.Errorf("RunTask called %d times, want 8 (4 per attempt, 2 attempts)", n)
	}
	dead, err := f.store.DeadLetters(context.Background())
	if err != nil || len(dead) != 1 || dead[0] != j.ID {
		t.Errorf("dead letters %v (err %v), want [%d]", dead, err, j.ID)
	}
	if len(f.aws.Tasks()) != 1 {
		t.Errorf("%d tasks, want only the first job's", len(f.aws.Tasks()))
	}
}

func TestThrottlingIsRetriedThenReported(t *testing.T) {
	f := newFixture(t)
	r := f.runner()
	// The SDK retries throttling itself (3 attempts here) ...
	f.aws.FailNext("RunTask", 2, awsserver.Throttling())
	f.aws.FailNext("DescribeTasks", 2, awsserver.Throttling())
	f.aws.FailNext("GetLogEvents", 2, awsserver.Throttling())
	if code, err, _ := f.run(context.Background(), r, f.job()); err != nil || code != 0 {
		t.Fatalf("code %d, err %v after throttling the SDK retried", code, err)
	}
	if n := f.aws.Count("RunTask"); n != 3 {
		t.Errorf("RunTask requests %d, want 3", n)
	}

	// ... and when it gives up the job errors with a retryable message;
	// the worker's retry then starts the task.
	f.worker(r, jobs.WorkerConfig{Concurrency: 1, MaxAttempts: 2, Backoff: 10 * time.Millisecond})
	f.aws.FailNext("RunTask", 3, awsserver.Throttling())
	j := f.job("true")
	f.create(j)
	done := f.waitState(j.ID, jobs.Succeeded, 20*time.Second)
	if done.Attempt != 2 {
		t.Errorf("attempt %d, want 2", done.Attempt)
	}
	var said bool
	evs, err := f.store.ReadEvents(context.Background(), "0", 1000, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Job == j.ID && strings.Contains(ev.Text.String(), "ECS is throttling gantry's RunTask calls; it will try again; retrying in") {
			said = true
		}
	}
	if !said {
		t.Error("no event told the thread that ECS throttled the job")
	}
	if n := len(f.aws.Tasks()); n != 2 {
		t.Errorf("%d tasks, want 2 (one per job)", n)
	}
}

// A RunTask whose reply is lost is retried by the SDK with the same
// client token: ECS hands back the task already started.
func TestLostRunTaskReplyStartsOneTask(t *testing.T) {
	f := newFixture(t)
	fault := awsserver.ServerError()
	fault.AfterApply = true
	f.aws.FailNext("RunTask", 1, fault)
	if code, err, _ := f.run(context.Background(), f.runner(), f.job()); err != nil || code != 0 {
		t.Fatalf("code %d, err %v", code, err)
	}
	if n, tasks := f.aws.Count("RunTask"), len(f.aws.Tasks()); n != 2 || tasks != 1 {
		t.Errorf("%d RunTask requests started %d tasks; want 2 requests, 1 task", n, tasks)
	}
}

func TestDeregisteredDefinitionIsRegisteredAgain(t *testing.T) {
	f := newFixture(t)
	r := f.runner()
	if _, err, _ := f.run(context.Background(), r, f.job()); err != nil {
		t.Fatal(err)
	}
	arn := f.aws.Tasks()[0].TaskDefinitionARN
	if _, err := f.cli.ECS.DeregisterTaskDefinition(context.Background(), deregister(arn)); err != nil {
		t.Fatal(err)
	}
	if _, err, _ := f.run(context.Background(), r, f.job()); err != nil {
		t.Fatalf("after deregistering: %v", err)
	}
	if n := f.aws.Count("RegisterTaskDefinition"); n != 2 {
		t.Errorf("%d registrations, want 2", n)
	}
	if second := f.aws.Tasks()[1].TaskDefinitionARN; second == arn {
		t.Errorf("the second task ran on the deregistered %s", arn)
	}
}

func TestAccessDeniedIsPermanent(t *testing.T) {
	f := newFixture(t)
	f.aws.FailNext("RegisterTaskDefinition", 1, awsserver.Fault{Code: "AccessDeniedException", Message: "not authorized to perform ecs:RegisterTaskDefinition"})
	_, err, _ := f.run(context.Background(), f.runner(), f.job())
	if !errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), "not authorized to perform ecs:RegisterTaskDefinition") {
		t.Errorf("err %v", err)
	}
}
