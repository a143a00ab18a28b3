package ecs_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/ecs"
)

// workerTask starts a long-running task that stands for gantry's own
// worker, and serves its task metadata as ECS does.
func workerTask(t *testing.T, f *fixture) (arn, metadataURI string) {
	t.Helper()
	ctx := context.Background()
	td, err := f.cli.ECS.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{
		Family:               aws.String("gantry-worker"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("gantry"), Image: aws.String(fetchImg)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	f.aws.QueueScripts(awsserver.RunUntilStopped())
	out, err := f.cli.ECS.RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String("services"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeEc2})
	if err != nil {
		t.Fatal(err)
	}
	arn = aws.ToString(out.Tasks[0].TaskArn)
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v4/abc/task" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{
			"Cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/services", "TaskARN": arn, "Family": "gantry-worker",
		})
	}))
	t.Cleanup(meta.Close)
	return arn, meta.URL + "/v4/abc"
}

func TestProtectionFollowsBusyAndIsRenewed(t *testing.T) {
	f := newFixture(t)
	arn, uri := workerTask(t, f)
	p := ecs.NewProtector(f.cli.ECS, ecs.ProtectionConfig{MetadataURI: uri, ExpiresIn: 2 * time.Minute, RenewEvery: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	protected := func() bool { task, _ := f.aws.Task(arn); return task.Protected }

	time.Sleep(50 * time.Millisecond)
	if n := f.aws.Count("UpdateTaskProtection"); n != 0 {
		t.Errorf("an idle worker called UpdateTaskProtection %d times", n)
	}
	p.Busy(true)
	waitFor(t, "protection on", 5*time.Second, protected)
	task, _ := f.aws.Task(arn)
	if left := time.Until(task.ProtectedUntil); left < time.Minute || left > 2*time.Minute {
		t.Errorf("protection lasts %s more, want about 2m", left)
	}
	waitFor(t, "renewals", 5*time.Second, func() bool { return f.aws.Count("UpdateTaskProtection") >= 4 })
	p.Busy(false)
	waitFor(t, "protection off", 5*time.Second, func() bool { return !protected() })
	var last awsecs.UpdateTaskProtectionInput
	calls := f.aws.Calls("UpdateTaskProtection")
	if err := calls[len(calls)-1].Decode(&last); err != nil {
		t.Fatal(err)
	}
	if last.ProtectionEnabled || aws.ToString(last.Cluster) != "arn:aws:ecs:us-east-1:123456789012:cluster/services" || !cmp.Equal(last.Tasks, []string{arn}) {
		t.Errorf("last call %+v", last)
	}
	n := f.aws.Count("UpdateTaskProtection")
	time.Sleep(150 * time.Millisecond)
	if m := f.aws.Count("UpdateTaskProtection"); m != n {
		t.Errorf("an idle worker renewed protection: %d calls, then %d", n, m)
	}

	// Stopping while busy turns protection off.
	p.Busy(true)
	waitFor(t, "protection on again", 5*time.Second, protected)
	cancel()
	<-done
	if protected() {
		t.Error("protection stayed on after the worker stopped")
	}
}

// The worker's Busy callback is the protector's: a job held turns
// protection on, and it goes off when the worker is idle again.
func TestProtectionThroughTheWorker(t *testing.T) {
	f := newFixture(t)
	arn, uri := workerTask(t, f)
	p := ecs.NewProtector(f.cli.ECS, ecs.ProtectionConfig{MetadataURI: uri})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go p.Run(ctx)
	var seen bool
	f.scripted(slowTask(3, 300*time.Millisecond))
	f.worker(f.runner(), jobs.WorkerConfig{Concurrency: 1, Busy: p.Busy})
	j := f.job("make")
	f.create(j)
	waitFor(t, "protection while the job runs", 10*time.Second, func() bool {
		task, _ := f.aws.Task(arn)
		seen = seen || task.Protected
		return seen
	})
	f.waitState(j.ID, jobs.Succeeded, 10*time.Second)
	waitFor(t, "protection off when idle", 5*time.Second, func() bool { task, _ := f.aws.Task(arn); return !task.Protected })
}

func TestProtectionRefusedForATaskOutsideAService(t *testing.T) {
	f := newFixture(t)
	_, uri := workerTask(t, f)
	f.aws.RejectProtection(true)
	p := ecs.NewProtector(f.cli.ECS, ecs.ProtectionConfig{MetadataURI: uri, RenewEvery: 20 * time.Millisecond, RetryEvery: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	p.Busy(true)
	waitFor(t, "the refused call", 5*time.Second, func() bool { return f.aws.Count("UpdateTaskProtection") == 1 })
	p.Busy(false)
	p.Busy(true)
	time.Sleep(100 * time.Millisecond)
	cancel()
	<-done
	if n := f.aws.Count("UpdateTaskProtection"); n != 1 {
		t.Errorf("UpdateTaskProtection called %d times after ECS refused it, want 1", n)
	}
}

func TestQueueDepthIsPublished(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		f.create(f.job("true"))
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	p := ecs.NewDepthPublisher(f.cli.CloudWatch, ecs.QueueDepth(jobs.NewQueue(f.store)),
		ecs.MetricsConfig{Dimensions: map[string]string{"Queue": "gantry"}, Now: func() time.Time { return at }})
	if err := p.Publish(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []awsserver.Metric{{Namespace: "Gantry", Name: "QueueDepth", Dimensions: map[string]string{"Queue": "gantry"}, Value: 3, Unit: "Count", Timestamp: at}}
	if diff := cmp.Diff(want, f.aws.Metrics()); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ecs.NewDepthPublisher(f.cli.CloudWatch, ecs.QueueDepth(jobs.NewQueue(f.store)), ecs.MetricsConfig{Every: 20 * time.Millisecond}).Run(ctx)
	}()
	waitFor(t, "periodic publishing", 5*time.Second, func() bool { return len(f.aws.Metrics()) >= 4 })
	cancel()
	<-done
}
