package awsserver_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

var taskARNPattern = regexp.MustCompile(`^arn:aws:ecs:us-east-1:123456789012:task/ci/[0-9a-f]{32}$`)

func TestRegisterAndDescribeTaskDefinition(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)

	first := registerJobDef(t, c, "gantry-job")
	second := registerJobDef(t, c, "gantry-job")
	if got, want := aws.ToString(first.TaskDefinitionArn), "arn:aws:ecs:us-east-1:123456789012:task-definition/gantry-job:1"; got != want {
		t.Errorf("first ARN %q, want %q", got, want)
	}
	if second.Revision != 2 || aws.ToString(second.TaskDefinitionArn) != "arn:aws:ecs:us-east-1:123456789012:task-definition/gantry-job:2" {
		t.Errorf("second registration: revision %d, ARN %q; want 2, ...:gantry-job:2", second.Revision, aws.ToString(second.TaskDefinitionArn))
	}
	if second.Status != ecstypes.TaskDefinitionStatusActive || second.RegisteredAt == nil || len(second.ContainerDefinitions) != 2 {
		t.Errorf("registered definition: status %q, registeredAt %v, %d containers", second.Status, second.RegisteredAt, len(second.ContainerDefinitions))
	}
	main := second.ContainerDefinitions[1]
	if got := main.LogConfiguration.Options["awslogs-stream-prefix"]; got != logPrefix || main.Command[2] != "go test ./..." {
		t.Errorf("container definition not returned as registered: %+v", main)
	}

	for _, ref := range []string{"gantry-job", "gantry-job:1", aws.ToString(first.TaskDefinitionArn)} {
		out, err := c.ecs.DescribeTaskDefinition(ctx(t), &ecs.DescribeTaskDefinitionInput{
			TaskDefinition: aws.String(ref), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
		})
		if err != nil {
			t.Fatalf("DescribeTaskDefinition(%s): %v", ref, err)
		}
		wantRev := int32(1)
		if ref == "gantry-job" {
			wantRev = 2
		}
		if out.TaskDefinition.Revision != wantRev {
			t.Errorf("DescribeTaskDefinition(%s): revision %d, want %d", ref, out.TaskDefinition.Revision, wantRev)
		}
		if len(out.Tags) != 1 || aws.ToString(out.Tags[0].Key) != "app" {
			t.Errorf("DescribeTaskDefinition(%s) with TAGS: tags %+v", ref, out.Tags)
		}
	}

	for _, ref := range []string{"nope", "gantry-job:3", "arn:aws:ecs:us-east-1:123456789012:task-definition/nope:1"} {
		_, err := c.ecs.DescribeTaskDefinition(ctx(t), &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(ref)})
		var ce *ecstypes.ClientException
		if !errors.As(err, &ce) || ce.ErrorMessage() != "Unable to describe task definition." {
			t.Errorf("DescribeTaskDefinition(%s): error %v, want ClientException \"Unable to describe task definition.\"", ref, err)
		}
	}

	// A Fargate definition without awsvpc is refused as ECS refuses it.
	_, err := c.ecs.RegisterTaskDefinition(ctx(t), &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String("bad"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Cpu:                     aws.String("256"), Memory: aws.String("512"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("x"), Image: aws.String("busybox")}},
	})
	var ce *ecstypes.ClientException
	if !errors.As(err, &ce) {
		t.Errorf("Fargate definition in bridge mode: error %v, want ClientException", err)
	}
}

func TestRunDescribeStop(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t, awsserver.WithManualClock(time.Unix(1_700_000_000, 0)))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	srv.QueueScripts(awsserver.RunUntilStopped())

	task := runOne(t, c, fargateRun("gantry-job", ""))
	arn := aws.ToString(task.TaskArn)
	if !taskARNPattern.MatchString(arn) {
		t.Errorf("task ARN %q does not match %v", arn, taskARNPattern)
	}
	if aws.ToString(task.LastStatus) != awsserver.StatusProvisioning || aws.ToString(task.DesiredStatus) != awsserver.StatusRunning {
		t.Errorf("new task: lastStatus %q desiredStatus %q, want PROVISIONING/RUNNING", aws.ToString(task.LastStatus), aws.ToString(task.DesiredStatus))
	}
	if len(task.Containers) != 2 || aws.ToString(task.StartedBy) != "gantry/42" || task.LaunchType != ecstypes.LaunchTypeFargate {
		t.Errorf("new task: %d containers, startedBy %q, launchType %q", len(task.Containers), aws.ToString(task.StartedBy), task.LaunchType)
	}
	if got := aws.ToString(task.TaskDefinitionArn); got != "arn:aws:ecs:us-east-1:123456789012:task-definition/gantry-job:1" {
		t.Errorf("taskDefinitionArn %q", got)
	}
	if task.Overrides == nil || len(task.Overrides.ContainerOverrides) != 1 || aws.ToString(task.Overrides.ContainerOverrides[0].Environment[0].Value) != "42" {
		t.Errorf("overrides not echoed: %+v", task.Overrides)
	}

	srv.Advance(time.Second)
	running := describe(t, c, arn)
	if aws.ToString(running.LastStatus) != awsserver.StatusRunning || running.StartedAt == nil {
		t.Fatalf("after 1s: lastStatus %q startedAt %v, want RUNNING", aws.ToString(running.LastStatus), running.StartedAt)
	}

	tagged, err := c.ecs.DescribeTasks(ctx(t), &ecs.DescribeTasksInput{Cluster: aws.String("ci"), Tasks: []string{arn}, Include: []ecstypes.TaskField{ecstypes.TaskFieldTags}})
	if err != nil {
		t.Fatal(err)
	}
	if tags := tagged.Tasks[0].Tags; len(tags) != 1 || aws.ToString(tags[0].Key) != "gantry-job" || len(running.Tags) != 0 {
		t.Errorf("tags with include TAGS %+v, without %+v", tags, running.Tags)
	}

	// Unknown tasks come back as failures, not errors.
	missing := "arn:aws:ecs:us-east-1:123456789012:task/ci/0123456789abcdef0123456789abcdef"
	out, err := c.ecs.DescribeTasks(ctx(t), &ecs.DescribeTasksInput{Cluster: aws.String("ci"), Tasks: []string{arn, missing}})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	if len(out.Tasks) != 1 || len(out.Failures) != 1 || aws.ToString(out.Failures[0].Arn) != missing || aws.ToString(out.Failures[0].Reason) != "MISSING" {
		t.Errorf("DescribeTasks with an unknown ARN: tasks %d, failures %+v", len(out.Tasks), out.Failures)
	}

	stopped, err := c.ecs.StopTask(ctx(t), &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(arn), Reason: aws.String("cancelled by U01 (#42)")})
	if err != nil {
		t.Fatalf("StopTask: %v", err)
	}
	st := stopped.Task
	if aws.ToString(st.LastStatus) != awsserver.StatusStopped || st.StopCode != ecstypes.TaskStopCodeUserInitiated || aws.ToString(st.StoppedReason) != "cancelled by U01 (#42)" {
		t.Errorf("stopped task: lastStatus %q stopCode %q reason %q", aws.ToString(st.LastStatus), st.StopCode, aws.ToString(st.StoppedReason))
	}
	if code := containerOf(t, *st, "main").ExitCode; code == nil || *code != 137 {
		t.Errorf("main container exit code %v, want 137", code)
	}

	// Stopping again changes nothing but is recorded.
	if _, err := c.ecs.StopTask(ctx(t), &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(arn), Reason: aws.String("again")}); err != nil {
		t.Fatalf("second StopTask: %v", err)
	}
	got, ok := srv.Task(arn)
	if !ok {
		t.Fatalf("srv.Task(%s) not found", arn)
	}
	if diff := cmp.Diff([]string{"cancelled by U01 (#42)", "again"}, got.StopRequests); diff != "" {
		t.Errorf("StopRequests (-want +got):\n%s", diff)
	}
	if got.StoppedReason != "cancelled by U01 (#42)" || got.Tags["gantry-job"] != "42" || aws.ToString(got.Input.StartedBy) != "gantry/42" {
		t.Errorf("inspected task: reason %q tags %v startedBy %q", got.StoppedReason, got.Tags, aws.ToString(got.Input.StartedBy))
	}
	if got.Input.NetworkConfiguration.AwsvpcConfiguration.SecurityGroups[0] != "sg-1" {
		t.Errorf("recorded network configuration %+v", got.Input.NetworkConfiguration.AwsvpcConfiguration)
	}

	_, err = c.ecs.StopTask(ctx(t), &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(missing)})
	var ipe *ecstypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Errorf("StopTask of an unknown task: %v, want InvalidParameterException", err)
	}
}

func TestRunTaskValidation(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t, awsserver.WithClusters("ci"))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")

	tests := []struct {
		name   string
		modify func(*ecs.RunTaskInput)
		code   string
	}{
		{"unknown cluster", func(in *ecs.RunTaskInput) { in.Cluster = aws.String("prod") }, "ClusterNotFoundException"},
		{"unknown definition", func(in *ecs.RunTaskInput) { in.TaskDefinition = aws.String("other") }, "ClientException"},
		{"no launch type or strategy", func(in *ecs.RunTaskInput) { in.LaunchType = "" }, "InvalidParameterException"},
		{"launch type and strategy", func(in *ecs.RunTaskInput) {
			in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT")}}
		}, "InvalidParameterException"},
		{"Fargate without network configuration", func(in *ecs.RunTaskInput) { in.NetworkConfiguration = nil }, "InvalidParameterException"},
		{"no subnets", func(in *ecs.RunTaskInput) { in.NetworkConfiguration.AwsvpcConfiguration.Subnets = []string{} }, "InvalidParameterException"},
		{"override of an unknown container", func(in *ecs.RunTaskInput) { in.Overrides.ContainerOverrides[0].Name = aws.String("mian") }, "InvalidParameterException"},
		{"count too high", func(in *ecs.RunTaskInput) { in.Count = aws.Int32(11) }, "InvalidParameterException"},
		{"startedBy with a bad character", func(in *ecs.RunTaskInput) { in.StartedBy = aws.String("gantry#42") }, "InvalidParameterException"},
		{"reserved tag prefix", func(in *ecs.RunTaskInput) { in.Tags[0].Key = aws.String("aws:job") }, "InvalidParameterException"},
		{"clientToken too long", func(in *ecs.RunTaskInput) { in.ClientToken = aws.String(strings.Repeat("x", 65)) }, "InvalidParameterException"},
	}
	for _, tt := range tests {
		in := fargateRun("gantry-job", "")
		tt.modify(in)
		_, err := c.ecs.RunTask(ctx(t), in)
		if err == nil {
			t.Errorf("%s: RunTask succeeded, want %s", tt.name, tt.code)
			continue
		}
		wantAPIError(t, err, tt.code)
	}
	if n := len(srv.Tasks()); n != 0 {
		t.Errorf("%d tasks started by invalid requests", n)
	}

	// A capacity provider strategy alone is fine, and makes a Fargate task.
	in := fargateRun("gantry-job", "")
	in.LaunchType = ""
	in.CapacityProviderStrategy = []ecstypes.CapacityProviderStrategyItem{{CapacityProvider: aws.String("FARGATE_SPOT"), Weight: 1}}
	task := runOne(t, c, in)
	if aws.ToString(task.CapacityProviderName) != "FARGATE_SPOT" || task.LaunchType != ecstypes.LaunchTypeFargate {
		t.Errorf("capacity provider task: provider %q launch type %q", aws.ToString(task.CapacityProviderName), task.LaunchType)
	}
}

func TestClientTokenIdempotency(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")

	first := runOne(t, c, fargateRun("gantry-job", "gantry-job-42-attempt-1"))
	again := runOne(t, c, fargateRun("gantry-job", "gantry-job-42-attempt-1"))
	if aws.ToString(first.TaskArn) != aws.ToString(again.TaskArn) {
		t.Errorf("same clientToken gave tasks %s and %s", aws.ToString(first.TaskArn), aws.ToString(again.TaskArn))
	}
	other := runOne(t, c, fargateRun("gantry-job", "gantry-job-43-attempt-1"))
	if aws.ToString(other.TaskArn) == aws.ToString(first.TaskArn) {
		t.Errorf("a new clientToken returned the old task")
	}
	if n := len(srv.Tasks()); n != 2 {
		t.Errorf("%d tasks exist, want 2", n)
	}

	// The reply to the first attempt is lost (a 500 after the task started);
	// the SDK retries with the same token and gets that task, not a second.
	srv.FailNext("RunTask", 1, awsserver.Fault{Code: "ServerException", Message: "lost", Status: 500, AfterApply: true})
	before := srv.Count("RunTask")
	lost := runOne(t, c, fargateRun("gantry-job", ""))
	if got := srv.Count("RunTask") - before; got != 2 {
		t.Errorf("RunTask requests for one call with a lost reply: %d, want 2", got)
	}
	if n := len(srv.Tasks()); n != 3 {
		t.Errorf("%d tasks exist after the retried call, want 3", n)
	}
	calls := srv.Calls("RunTask")
	var a, b ecs.RunTaskInput
	if err := calls[len(calls)-2].Decode(&a); err != nil {
		t.Fatal(err)
	}
	if err := calls[len(calls)-1].Decode(&b); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(a.ClientToken) == "" || aws.ToString(a.ClientToken) != aws.ToString(b.ClientToken) {
		t.Errorf("SDK attempts used clientTokens %q and %q, want the same generated token", aws.ToString(a.ClientToken), aws.ToString(b.ClientToken))
	}
	if calls[len(calls)-2].Error != "ServerException" || calls[len(calls)-1].Error != "" {
		t.Errorf("recorded errors %q, %q", calls[len(calls)-2].Error, calls[len(calls)-1].Error)
	}
	if got, _ := srv.Task(aws.ToString(lost.TaskArn)); got.ARN == "" {
		t.Errorf("task %s of the retried call is unknown", aws.ToString(lost.TaskArn))
	}
}

func TestThrottlingSurfacesAfterSDKRetries(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	arn := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)

	// Two throttles, then success: the SDK's retries hide them.
	srv.FailNext("DescribeTasks", 2, awsserver.Throttling())
	describe(t, c, arn)
	if n := srv.Count("DescribeTasks"); n != 3 {
		t.Errorf("DescribeTasks requests %d, want 3 (2 throttled + 1)", n)
	}

	// Throttled on every attempt: the default 3 attempts, then the error.
	srv.FailNext("DescribeTasks", 3, awsserver.Throttling())
	_, err := c.ecs.DescribeTasks(ctx(t), &ecs.DescribeTasksInput{Cluster: aws.String("ci"), Tasks: []string{arn}})
	ae := wantAPIError(t, err, "ThrottlingException")
	if ae.ErrorMessage() != "Rate exceeded" {
		t.Errorf("message %q", ae.ErrorMessage())
	}
	var maxErr *retry.MaxAttemptsError
	if !errors.As(err, &maxErr) || maxErr.Attempt != 3 {
		t.Errorf("error %v: want a retry.MaxAttemptsError after 3 attempts", err)
	}
	if n := srv.Count("DescribeTasks"); n != 6 {
		t.Errorf("DescribeTasks requests %d, want 6", n)
	}

	// A client error is not retried.
	srv.FailNext("StopTask", 1, awsserver.Fault{Code: "ClientException", Message: "no"})
	_, err = c.ecs.StopTask(ctx(t), &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(arn)})
	var ce *ecstypes.ClientException
	if !errors.As(err, &ce) || srv.Count("StopTask") != 1 {
		t.Errorf("ClientException: error %v after %d requests, want the typed error after 1", err, srv.Count("StopTask"))
	}
}

func TestRunTaskFailures(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")

	srv.FailRunTask(1, awsserver.Failure{Reason: "RESOURCE:MEMORY"}, awsserver.Failure{Arn: "arn:aws:ecs:us-east-1:123456789012:container-instance/ci/abc", Reason: "AGENT"})
	out, err := c.ecs.RunTask(ctx(t), fargateRun("gantry-job", "tok-1"))
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	want := []string{"arn:aws:ecs:us-east-1:123456789012:cluster/ci RESOURCE:MEMORY", "arn:aws:ecs:us-east-1:123456789012:container-instance/ci/abc AGENT"}
	var got []string
	for _, f := range out.Failures {
		got = append(got, aws.ToString(f.Arn)+" "+aws.ToString(f.Reason))
	}
	if diff := cmp.Diff(want, got); diff != "" || len(out.Tasks) != 0 {
		t.Errorf("RunTask failures (-want +got):\n%s\ntasks: %d", diff, len(out.Tasks))
	}
	// The token was not used up: the retry starts a task.
	runOne(t, c, fargateRun("gantry-job", "tok-1"))
	if n := len(srv.Tasks()); n != 1 {
		t.Errorf("%d tasks, want 1", n)
	}
}

func TestTaskProtection(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t, awsserver.WithManualClock(time.Unix(1_700_000_000, 0)))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	srv.QueueScripts(awsserver.RunUntilStopped())
	arn := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)
	missing := "arn:aws:ecs:us-east-1:123456789012:task/ci/ffffffffffffffffffffffffffffffff"

	up, err := c.ecs.UpdateTaskProtection(ctx(t), &ecs.UpdateTaskProtectionInput{
		Cluster: aws.String("ci"), Tasks: []string{arn, missing}, ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(5),
	})
	if err != nil {
		t.Fatalf("UpdateTaskProtection: %v", err)
	}
	if len(up.ProtectedTasks) != 1 || !up.ProtectedTasks[0].ProtectionEnabled || len(up.Failures) != 1 || aws.ToString(up.Failures[0].Reason) != "MISSING" {
		t.Fatalf("UpdateTaskProtection: protected %+v failures %+v", up.ProtectedTasks, up.Failures)
	}
	wantExpiry := time.Unix(1_700_000_000, 0).Add(5 * time.Minute)
	if exp := up.ProtectedTasks[0].ExpirationDate; exp == nil || !exp.Equal(wantExpiry) {
		t.Errorf("expirationDate %v, want %v", exp, wantExpiry)
	}
	if got, _ := srv.Task(arn); !got.Protected || !got.ProtectedUntil.Equal(wantExpiry) {
		t.Errorf("inspected protection %v until %v", got.Protected, got.ProtectedUntil)
	}

	srv.Advance(6 * time.Minute)
	get, err := c.ecs.GetTaskProtection(ctx(t), &ecs.GetTaskProtectionInput{Cluster: aws.String("ci"), Tasks: []string{arn}})
	if err != nil {
		t.Fatalf("GetTaskProtection: %v", err)
	}
	if len(get.ProtectedTasks) != 1 || get.ProtectedTasks[0].ProtectionEnabled {
		t.Errorf("protection after its expiry: %+v", get.ProtectedTasks)
	}

	_, err = c.ecs.UpdateTaskProtection(ctx(t), &ecs.UpdateTaskProtectionInput{
		Cluster: aws.String("ci"), Tasks: []string{arn}, ProtectionEnabled: true, ExpiresInMinutes: aws.Int32(3000),
	})
	wantAPIError(t, err, "InvalidParameterException")

	srv.RejectProtection(true)
	up, err = c.ecs.UpdateTaskProtection(ctx(t), &ecs.UpdateTaskProtectionInput{Cluster: aws.String("ci"), Tasks: []string{arn}, ProtectionEnabled: true})
	if err != nil {
		t.Fatalf("UpdateTaskProtection: %v", err)
	}
	if len(up.Failures) != 1 || aws.ToString(up.Failures[0].Reason) != "TASK_NOT_VALID" {
		t.Errorf("with RejectProtection: failures %+v", up.Failures)
	}
}

func TestListTasks(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t, awsserver.WithManualClock(time.Unix(1_700_000_000, 0)))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	registerJobDef(t, c, "other")
	srv.QueueScripts(awsserver.RunUntilStopped(), awsserver.RunUntilStopped(), awsserver.RunUntilStopped(), awsserver.Exit(0))

	var arns []string
	for i, fam := range []string{"gantry-job", "gantry-job", "other", "gantry-job"} {
		in := fargateRun(fam, "")
		if i == 2 {
			in.StartedBy = aws.String("someone-else")
		}
		arns = append(arns, aws.ToString(runOne(t, c, in).TaskArn))
	}
	srv.Advance(time.Second) // the last task exits by itself

	list := func(in *ecs.ListTasksInput) []string {
		t.Helper()
		in.Cluster = aws.String("ci")
		var all []string
		p := ecs.NewListTasksPaginator(c.ecs, in)
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatalf("ListTasks: %v", err)
			}
			all = append(all, out.TaskArns...)
		}
		return all
	}
	checks := []struct {
		name string
		in   *ecs.ListTasksInput
		want []string
	}{
		{"running", &ecs.ListTasksInput{}, arns[:3]},
		{"running, pages of 1", &ecs.ListTasksInput{MaxResults: aws.Int32(1)}, arns[:3]},
		{"startedBy", &ecs.ListTasksInput{StartedBy: aws.String("gantry/42")}, []string{arns[0], arns[1]}},
		{"family", &ecs.ListTasksInput{Family: aws.String("other")}, []string{arns[2]}},
		{"stopped", &ecs.ListTasksInput{DesiredStatus: ecstypes.DesiredStatusStopped}, []string{arns[3]}},
	}
	for _, ch := range checks {
		if diff := cmp.Diff(ch.want, list(ch.in)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", ch.name, diff)
		}
	}
	if n := srv.Count("ListTasks"); n != 7 {
		t.Errorf("ListTasks requests %d, want 7 (3 pages of 1 + 4)", n)
	}
	_, err := c.ecs.ListTasks(ctx(t), &ecs.ListTasksInput{Cluster: aws.String("ci"), StartedBy: aws.String("gantry/42"), Family: aws.String("gantry-job")})
	wantAPIError(t, err, "InvalidParameterException")
}

func TestScriptedLifecycle(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	srv := awsserver.New(t, awsserver.WithManualClock(start))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")

	srv.QueueScripts(
		awsserver.TaskScript{
			Phases: []awsserver.Phase{
				{Status: awsserver.StatusProvisioning, For: 10 * time.Second},
				{Status: awsserver.StatusPending, For: 20 * time.Second},
				{Status: awsserver.StatusRunning, For: time.Minute},
				{Status: awsserver.StatusStopping, For: 5 * time.Second},
			},
			ExitCodes: map[string]int32{"main": 2},
		},
		awsserver.FailToStart("CannotPullContainerError: pull image manifest has been retried 1 time(s)"),
		awsserver.TaskScript{UntilStopped: true, StopDelay: 30 * time.Second, StopExitCodes: map[string]int32{"main": 143}},
		awsserver.TaskScript{Phases: []awsserver.Phase{{Status: awsserver.StatusProvisioning}}, UntilStopped: true},
	)
	exits := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)
	fails := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)
	holds := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)
	stuck := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)

	steps := []struct {
		after  time.Duration
		status string
	}{
		{9 * time.Second, awsserver.StatusProvisioning},
		{time.Second, awsserver.StatusPending},
		{20 * time.Second, awsserver.StatusRunning},
		{time.Minute, awsserver.StatusStopping},
		{5 * time.Second, awsserver.StatusStopped},
	}
	for _, st := range steps {
		srv.Advance(st.after)
		if got := aws.ToString(describe(t, c, exits).LastStatus); got != st.status {
			t.Fatalf("at %v: lastStatus %q, want %q", srv.Now().Sub(start), got, st.status)
		}
	}
	done := describe(t, c, exits)
	if done.StopCode != ecstypes.TaskStopCodeEssentialContainerExited || aws.ToString(done.StoppedReason) != "Essential container in task exited" {
		t.Errorf("exited task: stopCode %q reason %q", done.StopCode, aws.ToString(done.StoppedReason))
	}
	if code := containerOf(t, done, "main").ExitCode; code == nil || *code != 2 {
		t.Errorf("main exit code %v, want 2", code)
	}
	if code := containerOf(t, done, "fetch").ExitCode; code == nil || *code != 0 {
		t.Errorf("fetch exit code %v, want 0", code)
	}
	if done.StoppedAt == nil || !done.StoppedAt.Equal(start.Add(95*time.Second)) || !done.StartedAt.Equal(start.Add(30*time.Second)) {
		t.Errorf("startedAt %v stoppedAt %v", done.StartedAt, done.StoppedAt)
	}

	failed := describe(t, c, fails)
	if failed.StopCode != ecstypes.TaskStopCodeTaskFailedToStart || aws.ToString(failed.StoppedReason) != "CannotPullContainerError: pull image manifest has been retried 1 time(s)" {
		t.Errorf("failed task: stopCode %q reason %q", failed.StopCode, aws.ToString(failed.StoppedReason))
	}
	for _, ct := range failed.Containers {
		if ct.ExitCode != nil || aws.ToString(ct.Reason) == "" {
			t.Errorf("container %s of a task that never started: exit code %v reason %q", aws.ToString(ct.Name), ct.ExitCode, aws.ToString(ct.Reason))
		}
	}

	if got := aws.ToString(describe(t, c, holds).LastStatus); got != awsserver.StatusRunning {
		t.Fatalf("UntilStopped task after %v: %q, want RUNNING", srv.Now().Sub(start), got)
	}
	stop, err := c.ecs.StopTask(ctx(t), &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(holds), Reason: aws.String("cancel")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(stop.Task.LastStatus) != awsserver.StatusRunning || aws.ToString(stop.Task.DesiredStatus) != awsserver.StatusStopped {
		t.Errorf("during StopDelay: lastStatus %q desiredStatus %q, want RUNNING/STOPPED", aws.ToString(stop.Task.LastStatus), aws.ToString(stop.Task.DesiredStatus))
	}
	srv.Advance(30 * time.Second)
	held := describe(t, c, holds)
	if aws.ToString(held.LastStatus) != awsserver.StatusStopped || held.StopCode != ecstypes.TaskStopCodeUserInitiated {
		t.Errorf("after StopDelay: %q %q", aws.ToString(held.LastStatus), held.StopCode)
	}
	if code := containerOf(t, held, "main").ExitCode; code == nil || *code != 143 {
		t.Errorf("main exit code %v, want 143", code)
	}

	// A task stopped before it ran has no exit codes.
	if got := aws.ToString(describe(t, c, stuck).LastStatus); got != awsserver.StatusProvisioning {
		t.Fatalf("task held in PROVISIONING is %q", got)
	}
	stop, err = c.ecs.StopTask(ctx(t), &ecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(stuck)})
	if err != nil {
		t.Fatal(err)
	}
	if stop.Task.StopCode != ecstypes.TaskStopCodeUserInitiated || aws.ToString(stop.Task.StoppedReason) != awsserver.ReasonStoppedByUser {
		t.Errorf("stopped while provisioning: %q %q", stop.Task.StopCode, aws.ToString(stop.Task.StoppedReason))
	}
	for _, ct := range stop.Task.Containers {
		if ct.ExitCode != nil {
			t.Errorf("container %s of a task that never ran has exit code %d", aws.ToString(ct.Name), *ct.ExitCode)
		}
	}
}

func TestScriptFunctionSeesDefinitionAndInput(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t, awsserver.WithManualClock(time.Unix(1_700_000_000, 0)))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	srv.Script(func(td ecstypes.TaskDefinition, in ecs.RunTaskInput) awsserver.TaskScript {
		if aws.ToString(td.Family) != "gantry-job" || len(td.ContainerDefinitions) != 2 {
			return awsserver.FailToStart("unexpected definition " + aws.ToString(td.Family))
		}
		for _, kv := range in.Overrides.ContainerOverrides[0].Environment {
			if aws.ToString(kv.Name) == "GANTRY_JOB" && aws.ToString(kv.Value) == "7" {
				return awsserver.Exit(7)
			}
		}
		return awsserver.Exit(0)
	})
	in := fargateRun("gantry-job", "")
	in.Overrides.ContainerOverrides[0].Environment[0].Value = aws.String("7")
	arn := aws.ToString(runOne(t, c, in).TaskArn)
	srv.Advance(time.Second)
	if code := containerOf(t, describe(t, c, arn), "main").ExitCode; code == nil || *code != 7 {
		t.Errorf("exit code %v, want 7 chosen by the script function", code)
	}
}

func TestAdvanceNeedsManualClock(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{TB: t}
	srv := awsserver.New(ft)
	srv.Advance(time.Second)
	if len(ft.errors) != 1 {
		t.Errorf("Advance on a wall-clock server reported %v, want one error", ft.errors)
	}
}

func TestBadScriptIsReported(t *testing.T) {
	t.Parallel()
	ft := &fakeTB{TB: t}
	srv := awsserver.New(ft)
	srv.QueueScripts(awsserver.TaskScript{Phases: []awsserver.Phase{{Status: awsserver.StatusRunning}, {Status: awsserver.StatusPending}}})
	srv.QueueScripts(awsserver.TaskScript{StartFailure: "x", Phases: []awsserver.Phase{{Status: awsserver.StatusRunning}}})
	if len(ft.errors) != 2 {
		t.Fatalf("bad scripts reported %v, want two errors", ft.errors)
	}

	// A script naming a container the definition lacks fails RunTask.
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	srv.QueueScripts(awsserver.TaskScript{ExitCodes: map[string]int32{"mian": 1}})
	_, err := c.ecs.RunTask(ctx(t), fargateRun("gantry-job", ""), func(o *ecs.Options) { o.RetryMaxAttempts = 1 })
	wantAPIError(t, err, "ServerException")
	if len(ft.errors) != 3 {
		t.Errorf("bad container name reported %v", ft.errors)
	}
}
