package awsserver_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	cwltypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

func messages(events []cwltypes.OutputLogEvent) []string {
	var out []string
	for _, e := range events {
		out = append(out, aws.ToString(e.Message))
	}
	return out
}

func TestScriptedLogLinesInOrderWithTokens(t *testing.T) {
	t.Parallel()
	start := time.Unix(1_700_000_000, 0)
	srv := awsserver.New(t, awsserver.WithManualClock(start))
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	logs := append(awsserver.Lines("fetch", 0, "cloning acme/hello"),
		awsserver.Lines("main", time.Second, "=== RUN TestA", "--- PASS: TestA", "PASS", "ok  acme/hello 0.01s")...)
	srv.QueueScripts(awsserver.TaskScript{
		Phases: []awsserver.Phase{
			{Status: awsserver.StatusProvisioning, For: 20 * time.Millisecond},
			{Status: awsserver.StatusPending, For: 20 * time.Millisecond},
			{Status: awsserver.StatusRunning, For: 10 * time.Second},
		},
		Logs: logs,
	})
	task := runOne(t, c, fargateRun("gantry-job", ""))
	id := aws.ToString(task.TaskArn)[strings.LastIndex(aws.ToString(task.TaskArn), "/")+1:]
	stream := "job/main/" + id

	read := func(token *string) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		out, err := c.logs.GetLogEvents(ctx(t), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(logGroup), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		return out
	}

	// Before the task runs, its stream does not exist yet.
	_, err := c.logs.GetLogEvents(ctx(t), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String(logGroup), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true)})
	var rnf *cwltypes.ResourceNotFoundException
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "The specified log stream does not exist." {
		t.Fatalf("GetLogEvents before RUNNING: %v, want ResourceNotFoundException for the stream", err)
	}

	srv.Advance(40*time.Millisecond + 1500*time.Millisecond) // RUNNING for 1.5s: two lines of main
	first := read(nil)
	if diff := cmp.Diff([]string{"=== RUN TestA", "--- PASS: TestA"}, messages(first.Events)); diff != "" {
		t.Fatalf("first read (-want +got):\n%s", diff)
	}
	if ts := first.Events[1].Timestamp; ts == nil || *ts != start.Add(40*time.Millisecond+time.Second).UnixMilli() {
		t.Errorf("second line timestamp %v, want RUNNING + 1s", ts)
	}
	idle := read(first.NextForwardToken)
	if len(idle.Events) != 0 || aws.ToString(idle.NextForwardToken) != aws.ToString(first.NextForwardToken) {
		t.Errorf("read with nothing new: %d events, token %q -> %q; want none and the same token", len(idle.Events), aws.ToString(first.NextForwardToken), aws.ToString(idle.NextForwardToken))
	}

	srv.Advance(time.Minute)
	rest := read(idle.NextForwardToken)
	if diff := cmp.Diff([]string{"PASS", "ok  acme/hello 0.01s"}, messages(rest.Events)); diff != "" {
		t.Errorf("second read (-want +got):\n%s", diff)
	}
	got, _ := srv.Task(aws.ToString(task.TaskArn))
	if got.LastStatus != awsserver.StatusStopped || got.Containers[1].LogStream != stream || got.Containers[1].LogGroup != logGroup {
		t.Errorf("task after its script: %+v", got)
	}
	fetch := srv.LogEvents(logGroup, "job/fetch/"+id)
	if len(fetch) != 1 || fetch[0].Message != "cloning acme/hello" {
		t.Errorf("fetch container's stream: %+v", fetch)
	}

	// The SDK's paginator stops once the forward token repeats.
	p := cloudwatchlogs.NewGetLogEventsPaginator(c.logs, &cloudwatchlogs.GetLogEventsInput{
		LogGroupName: aws.String(logGroup), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true),
	}, func(o *cloudwatchlogs.GetLogEventsPaginatorOptions) { o.Limit = 3; o.StopOnDuplicateToken = true })
	var all []string
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatalf("paginator: %v", err)
		}
		all = append(all, messages(out.Events)...)
	}
	if len(all) != 4 || all[3] != "ok  acme/hello 0.01s" {
		t.Errorf("paginated read: %q", all)
	}
}

func TestGetLogEventsPagingAndDirections(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	var lines []string
	for i := range 25 {
		lines = append(lines, fmt.Sprintf("line %02d", i))
	}
	srv.AppendLog("/g", "s", lines...)

	get := func(in *cloudwatchlogs.GetLogEventsInput) *cloudwatchlogs.GetLogEventsOutput {
		t.Helper()
		in.LogGroupName, in.LogStreamName, in.Limit = aws.String("/g"), aws.String("s"), aws.Int32(10)
		out, err := c.logs.GetLogEvents(ctx(t), in)
		if err != nil {
			t.Fatalf("GetLogEvents: %v", err)
		}
		return out
	}

	var forward []string
	var token *string
	sizes := []int{}
	for range 4 {
		out := get(&cloudwatchlogs.GetLogEventsInput{StartFromHead: aws.Bool(true), NextToken: token})
		forward = append(forward, messages(out.Events)...)
		sizes = append(sizes, len(out.Events))
		token = out.NextForwardToken
	}
	if diff := cmp.Diff(lines, forward); diff != "" || !cmp.Equal(sizes, []int{10, 10, 5, 0}) {
		t.Errorf("forward pages %v (-want +got):\n%s", sizes, diff)
	}

	// Without a token or startFromHead, the tail; then backward from it.
	tail := get(&cloudwatchlogs.GetLogEventsInput{})
	if diff := cmp.Diff(lines[15:], messages(tail.Events)); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	back := get(&cloudwatchlogs.GetLogEventsInput{NextToken: tail.NextBackwardToken})
	if diff := cmp.Diff(lines[5:15], messages(back.Events)); diff != "" {
		t.Errorf("backward page (-want +got):\n%s", diff)
	}
	srv.AppendLog("/g", "s", "new")
	after := get(&cloudwatchlogs.GetLogEventsInput{NextToken: tail.NextForwardToken, StartFromHead: aws.Bool(true)})
	if diff := cmp.Diff([]string{"new"}, messages(after.Events)); diff != "" {
		t.Errorf("forward from the tail (-want +got):\n%s", diff)
	}

	_, err := c.logs.GetLogEvents(ctx(t), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/g"), LogStreamName: aws.String("s"), NextToken: aws.String("bogus")})
	var ipe *cwltypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Errorf("bad token: %v, want InvalidParameterException", err)
	}
	_, err = c.logs.GetLogEvents(ctx(t), &cloudwatchlogs.GetLogEventsInput{LogGroupName: aws.String("/nope"), LogStreamName: aws.String("s")})
	var rnf *cwltypes.ResourceNotFoundException
	if !errors.As(err, &rnf) || rnf.ErrorMessage() != "The specified log group does not exist." {
		t.Errorf("missing group: %v", err)
	}
}

func TestFilterAndLogGroups(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	if _, err := c.logs.CreateLogGroup(ctx(t), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/gantry/jobs")}); err != nil {
		t.Fatalf("CreateLogGroup: %v", err)
	}
	_, err := c.logs.CreateLogGroup(ctx(t), &cloudwatchlogs.CreateLogGroupInput{LogGroupName: aws.String("/gantry/jobs")})
	var exists *cwltypes.ResourceAlreadyExistsException
	if !errors.As(err, &exists) {
		t.Errorf("second CreateLogGroup: %v, want ResourceAlreadyExistsException", err)
	}
	srv.AppendLog("/gantry/jobs", "job/main/a", "ok 1", "FAIL: TestB", "ok 2")
	srv.AppendLog("/gantry/jobs", "job/main/b", "FAIL: TestC")
	srv.AppendLog("/other", "x", "FAIL elsewhere")

	groups, err := c.logs.DescribeLogGroups(ctx(t), &cloudwatchlogs.DescribeLogGroupsInput{LogGroupNamePrefix: aws.String("/gantry")})
	if err != nil {
		t.Fatalf("DescribeLogGroups: %v", err)
	}
	if len(groups.LogGroups) != 1 || aws.ToString(groups.LogGroups[0].LogGroupName) != "/gantry/jobs" {
		t.Errorf("DescribeLogGroups: %+v", groups.LogGroups)
	}

	out, err := c.logs.FilterLogEvents(ctx(t), &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName: aws.String("/gantry/jobs"), FilterPattern: aws.String("FAIL"), LogStreamNamePrefix: aws.String("job/main/"),
	})
	if err != nil {
		t.Fatalf("FilterLogEvents: %v", err)
	}
	var got []string
	for _, e := range out.Events {
		got = append(got, aws.ToString(e.LogStreamName)+": "+aws.ToString(e.Message))
	}
	if diff := cmp.Diff([]string{"job/main/a: FAIL: TestB", "job/main/b: FAIL: TestC"}, got); diff != "" {
		t.Errorf("FilterLogEvents (-want +got):\n%s", diff)
	}
}

// TestRealTimeRunner drives a task on the wall clock the way the ECS runner
// will: poll DescribeTasks and follow the log until the task stops.
func TestRealTimeRunner(t *testing.T) {
	t.Parallel()
	srv := awsserver.New(t)
	c := newClients(srv)
	registerJobDef(t, c, "gantry-job")
	srv.QueueScripts(awsserver.TaskScript{
		Phases: []awsserver.Phase{
			{Status: awsserver.StatusProvisioning, For: 20 * time.Millisecond},
			{Status: awsserver.StatusPending, For: 20 * time.Millisecond},
			{Status: awsserver.StatusRunning, For: 150 * time.Millisecond},
		},
		Logs:     awsserver.Lines("main", 30*time.Millisecond, "one", "two", "three", "four"),
		ExitCode: 1,
	})
	arn := aws.ToString(runOne(t, c, fargateRun("gantry-job", "")).TaskArn)
	stream := "job/main/" + arn[strings.LastIndex(arn, "/")+1:]

	var lines []string
	var token *string
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for {
		task := describe(t, c, arn)
		seen[aws.ToString(task.LastStatus)] = true
		out, err := c.logs.GetLogEvents(ctx(t), &cloudwatchlogs.GetLogEventsInput{
			LogGroupName: aws.String(logGroup), LogStreamName: aws.String(stream), StartFromHead: aws.Bool(true), NextToken: token,
		})
		var rnf *cwltypes.ResourceNotFoundException
		switch {
		case errors.As(err, &rnf):
		case err != nil:
			t.Fatalf("GetLogEvents: %v", err)
		default:
			lines = append(lines, messages(out.Events)...)
			token = out.NextForwardToken
		}
		if aws.ToString(task.LastStatus) == awsserver.StatusStopped && err == nil && len(out.Events) == 0 {
			if code := containerOf(t, task, "main").ExitCode; code == nil || *code != 1 {
				t.Errorf("exit code %v, want 1", code)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("task did not stop in time; last status %q", aws.ToString(task.LastStatus))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if diff := cmp.Diff([]string{"one", "two", "three", "four"}, lines); diff != "" {
		t.Errorf("followed log (-want +got):\n%s", diff)
	}
	if !seen[awsserver.StatusRunning] {
		t.Errorf("statuses seen %v: never RUNNING", seen)
	}
	if n := srv.Count("DescribeTasks"); n < 3 {
		t.Errorf("only %d polls", n)
	}
}
