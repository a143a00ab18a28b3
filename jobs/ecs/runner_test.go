package ecs_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

// Two jobs with the same spec run through the real worker as ECS tasks
// whose containers really run here: the fetch container clones the test
// repository with git, the job container runs the step script with sh.
func TestJobsRunAsTasksThroughTheWorker(t *testing.T) {
	f := newFixture(t)
	f.runLocally()
	f.worker(f.runner(), jobs.WorkerConfig{Concurrency: 1, LeaseTTL: 2 * time.Second})

	ok := f.job(`echo "$GREETING from job $GANTRY_JOB at $(cat version.txt)"`, `./run.sh twice; echo "to stderr" >&2`)
	f.create(ok)
	done := f.waitState(ok.ID, jobs.Succeeded, 20*time.Second)
	bad := f.job("echo before", "exit 3", "echo never reached")
	f.create(bad)
	failed := f.waitState(bad.ID, jobs.Failed, 20*time.Second)

	if n := f.aws.Count("RegisterTaskDefinition"); n != 1 {
		t.Errorf("RegisterTaskDefinition called %d times for two jobs with one spec, want 1", n)
	}
	tasks := f.aws.Tasks()
	if len(tasks) != 2 {
		t.Fatalf("%d tasks started, want 2", len(tasks))
	}
	if tasks[0].TaskDefinitionARN != tasks[1].TaskDefinitionARN {
		t.Errorf("the jobs ran on different definitions: %s, %s", tasks[0].TaskDefinitionARN, tasks[1].TaskDefinitionARN)
	}
	if done.Handle != tasks[0].ARN || failed.Handle != tasks[1].ARN {
		t.Errorf("job handles %q, %q; want the task ARNs %q, %q", done.Handle, failed.Handle, tasks[0].ARN, tasks[1].ARN)
	}

	// What RunTask carried.
	in := tasks[0].Input
	wantNet := &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-1", "subnet-2"}, SecurityGroups: []string{"sg-1"}, AssignPublicIp: ecstypes.AssignPublicIpDisabled}
	if diff := cmp.Diff(wantNet, in.NetworkConfiguration.AwsvpcConfiguration, cmpIgnoreSDK); diff != "" {
		t.Errorf("awsvpc configuration (-want +got):\n%s", diff)
	}
	wantTags := map[string]string{"gantry:job": fmt.Sprint(ok.ID), "gantry:attempt": "1", "gantry:repo": "hello", "gantry:kind": "build"}
	if diff := cmp.Diff(wantTags, tasks[0].Tags); diff != "" {
		t.Errorf("task tags (-want +got):\n%s", diff)
	}
	if want := fmt.Sprintf("gantry-%d-1-%d", ok.ID, ok.Created.UnixMilli()); aws.ToString(in.ClientToken) != want {
		t.Errorf("client token %q, want %q", aws.ToString(in.ClientToken), want)
	}
	if tasks[0].StartedBy != "gantry" || in.LaunchType != ecstypes.LaunchTypeFargate || aws.ToString(in.Cluster) != "ci" {
		t.Errorf("startedBy %q, launch type %q, cluster %q", tasks[0].StartedBy, in.LaunchType, aws.ToString(in.Cluster))
	}

	// The job log: the scripted lines in order, steps announced by gantry,
	// no marker lines.
	log := f.logText(ok.ID)
	assertInOrder(t, log,
		"── starting an ECS task (image golang:1.26",
		"is RUNNING",
		"── step 1/2: echo \"$GREETING",
		fmt.Sprintf("hello from job %d at two", ok.ID),
		"── step 1/2 succeeded",
		"── step 2/2: ./run.sh twice",
		"run.sh says twice",
		"to stderr",
		"── step 2/2 succeeded",
	)
	if strings.Contains(log, "##gantry:") {
		t.Errorf("marker lines reached the job log:\n%s", log)
	}
	badLog := f.logText(bad.ID)
	assertInOrder(t, badLog, "before", "── step 2/3: exit 3", "── step 2/3 failed with exit code 3")
	if strings.Contains(badLog, "never reached") {
		t.Errorf("a step after the failing one ran:\n%s", badLog)
	}
	if !failed.HasExit || failed.ExitCode != 3 || failed.Step != 2 {
		t.Errorf("failed job: exit %d (has %v), step %d; want exit 3 at step 2", failed.ExitCode, failed.HasExit, failed.Step)
	}

	// A new process (a new runner, empty cache) finds the definition by
	// its family and registers nothing.
	_, err, _ := f.run(context.Background(), f.runner(), f.job("true"))
	if err != nil {
		t.Fatal(err)
	}
	if n := f.aws.Count("RegisterTaskDefinition"); n != 1 {
		t.Errorf("a second runner registered again: %d registrations", n)
	}
}

var cmpIgnoreSDK = cmp.FilterPath(func(p cmp.Path) bool {
	return strings.HasPrefix(p.Last().String(), ".noSmithyDocumentSerde")
}, cmp.Ignore())

// assertInOrder checks that the parts occur in s in this order.
func assertInOrder(t *testing.T, s string, parts ...string) {
	t.Helper()
	at := 0
	for _, p := range parts {
		i := strings.Index(s[at:], p)
		if i < 0 {
			t.Fatalf("%q does not follow the earlier parts in:\n%s", p, s)
		}
		at += i + len(p)
	}
}

func TestDefinitionLayout(t *testing.T) {
	f := newFixture(t)
	f.runLocally()
	r := f.runner(func(c *ecs.Config) { c.FetchTokenARN = "arn:aws:ssm:us-east-1:123456789012:parameter/gantry/token" })
	j := f.job(`grep -q "127.0.0.1 redis" "$GANTRY_HOSTS_FILE" && echo "redis at $GANTRY_SERVICE_REDIS"`)
	j.Plan.Services = []spec.Service{{Name: "my-db", Image: "mysql:8"}, {Name: "redis", Image: "redis:7"}}
	code, err, log := f.run(context.Background(), r, j)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	if !strings.Contains(log, "redis at localhost") {
		t.Errorf("the steps did not find the service by name:\n%s", log)
	}
	task := f.aws.Tasks()[0]
	td, _ := f.aws.TaskDefinition(task.TaskDefinitionARN)
	if !regexp.MustCompile(`^gantry-[0-9a-f]{12}$`).MatchString(aws.ToString(td.Family)) {
		t.Errorf("family %q, want gantry-<hash>", aws.ToString(td.Family))
	}
	if td.NetworkMode != ecstypes.NetworkModeAwsvpc || aws.ToString(td.Cpu) != "1024" || aws.ToString(td.Memory) != "2048" {
		t.Errorf("network mode %q, cpu %q, memory %q", td.NetworkMode, aws.ToString(td.Cpu), aws.ToString(td.Memory))
	}
	byName := map[string]ecstypes.ContainerDefinition{}
	var names []string
	for _, c := range td.ContainerDefinitions {
		byName[aws.ToString(c.Name)] = c
		names = append(names, aws.ToString(c.Name))
		lc := c.LogConfiguration
		if lc == nil || lc.LogDriver != ecstypes.LogDriverAwslogs || lc.Options["awslogs-group"] != logGroup || lc.Options["awslogs-stream-prefix"] != "gantry" {
			t.Errorf("container %s logs with %+v, want awslogs to %s with prefix gantry", aws.ToString(c.Name), lc, logGroup)
		}
	}
	if diff := cmp.Diff([]string{"fetch", "job", "my-db", "redis"} /* spec sorts services */, names); diff != "" {
		t.Errorf("containers (-want +got):\n%s", diff)
	}
	fetch, job := byName["fetch"], byName["job"]
	if aws.ToBool(fetch.Essential) || !aws.ToBool(job.Essential) || aws.ToBool(byName["redis"].Essential) {
		t.Error("want only the job container essential")
	}
	if aws.ToString(fetch.Image) != fetchImg || aws.ToString(job.Image) != jobImage {
		t.Errorf("images: fetch %q, job %q", aws.ToString(fetch.Image), aws.ToString(job.Image))
	}
	if len(fetch.Secrets) != 1 || aws.ToString(fetch.Secrets[0].Name) != "GANTRY_FETCH_TOKEN" {
		t.Errorf("fetch secrets %+v, want GANTRY_FETCH_TOKEN from the parameter", fetch.Secrets)
	}
	deps := map[string]ecstypes.ContainerCondition{}
	for _, d := range job.DependsOn {
		deps[aws.ToString(d.ContainerName)] = d.Condition
	}
	if diff := cmp.Diff(map[string]ecstypes.ContainerCondition{"fetch": "SUCCESS", "redis": "START", "my-db": "START"}, deps); diff != "" {
		t.Errorf("job container dependencies (-want +got):\n%s", diff)
	}
	env := map[string]string{}
	for _, kv := range job.Environment {
		env[aws.ToString(kv.Name)] = aws.ToString(kv.Value)
	}
	if env["GANTRY_SERVICE_REDIS"] != "localhost" || env["GANTRY_SERVICE_MY_DB"] != "localhost" || env["GANTRY_SERVICES"] != "my-db redis" {
		t.Errorf("job container env %v, want the service addresses", env)
	}
	// With the token in a secret, no override carries it.
	for _, c := range f.aws.Calls("RunTask") {
		if strings.Contains(string(c.JSON), "s3cr3t-token") {
			t.Error("the fetch token was sent in RunTask although it comes from a secret")
		}
	}
}

func TestPlainFetchTokenGoesToTheFetchContainerOnly(t *testing.T) {
	f := newFixture(t)
	tokenFile := t.TempDir() + "/token"
	f.runLocally("GANTRY_ECS_TEST_TOKEN_FILE=" + tokenFile)
	r := f.runner(func(c *ecs.Config) { c.FetchToken = "plain-token" })
	code, err, log := f.run(context.Background(), r, f.job(`echo "token: [$GANTRY_FETCH_TOKEN]"`))
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	waitFor(t, "the fetch program to record its token", time.Second, func() bool {
		b, _ := readFile(tokenFile)
		return b == "plain-token"
	})
	if !strings.Contains(log, "token: []") {
		t.Errorf("the job container saw the fetch token:\n%s", log)
	}
	td, _ := f.aws.TaskDefinition(f.aws.Tasks()[0].TaskDefinitionARN)
	for _, c := range td.ContainerDefinitions {
		if len(c.Secrets) > 0 || strings.Contains(fmt.Sprint(c.Environment), "plain-token") {
			t.Errorf("container %s of the definition carries the token", aws.ToString(c.Name))
		}
	}
}

func TestExitCodesAndStoppedReasons(t *testing.T) {
	f := newFixture(t)
	r := f.runner()
	// A non-zero exit of the job container is the job's exit code.
	f.scripted(func(m string) awsserver.TaskScript {
		sc := awsserver.Exit(7, awsserver.Lines("job", time.Millisecond, startMark(m, 1), "boom", endMark(m, 1, 7))...)
		sc.ExitCodes = map[string]int32{"fetch": 0}
		return sc
	})
	code, err, log := f.run(context.Background(), r, f.job("boom"))
	if err != nil || code != 7 {
		t.Fatalf("code %d, err %v; want 7, nil", code, err)
	}
	assertInOrder(t, log, "── step 1/1: boom", "boom", "── step 1/1 failed with exit code 7")

	// No exit code: the stopped reason is what people read; a missing
	// image is permanent.
	pull := "CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref docker.io/library/golang:nope: not found"
	f.aws.QueueScripts(awsserver.FailToStart(pull))
	_, err, log = f.run(context.Background(), r, f.job("true"))
	if msg := jobs.UserMessage(err, 1).String(); !strings.Contains(msg, pull) || !errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("err %v (message %q, permanent %v), want the stopped reason, permanent", err, msg, errors.Is(err, jobs.ErrPermanent))
	}
	if !strings.Contains(log, pull) {
		t.Errorf("the job log does not say why:\n%s", log)
	}
	// A failure to start that may pass is retried.
	f.aws.QueueScripts(awsserver.FailToStart("ResourceInitializationError: unable to pull secrets or registry auth: connection timed out"))
	_, err, _ = f.run(context.Background(), r, f.job("true"))
	if err == nil || errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), "ResourceInitializationError") {
		t.Errorf("err %v, want a retryable error with the reason", err)
	}
}

func TestStoppedReasonReachesTheJobThroughTheWorker(t *testing.T) {
	f := newFixture(t)
	f.worker(f.runner(), jobs.WorkerConfig{Concurrency: 1})
	reason := "CannotPullContainerError: pull access denied for nope/nope, repository does not exist"
	f.aws.QueueScripts(awsserver.FailToStart(reason))
	j := f.job("true")
	f.create(j)
	done := f.waitState(j.ID, jobs.Errored, 10*time.Second)
	if !strings.Contains(done.Reason.String(), reason) {
		t.Errorf("reason %q, want the stopped reason", done.Reason.String())
	}
	if done.Attempt != 1 {
		t.Errorf("a permanent failure was retried: attempt %d", done.Attempt)
	}
}

func TestFetchFailureIsErroredWithItsLog(t *testing.T) {
	f := newFixture(t)
	f.runLocally()
	j := f.job("echo never")
	j.SHA = strings.Repeat("ab", 20) // not in the repository
	_, err, log := f.run(context.Background(), f.runner(), j)
	if err == nil || !errors.Is(err, jobs.ErrPermanent) {
		t.Fatalf("err %v, want a permanent error", err)
	}
	msg := jobs.UserMessage(err, j.ID).String()
	if !strings.Contains(msg, "checking out hello at abababa failed") || !strings.Contains(msg, "commit not found") {
		t.Errorf("message %q", msg)
	}
	assertInOrder(t, log, "── checking out hello at abababa failed (exit code 1):", "gantry fetch: checking out", "commit not found")
	if strings.Contains(log, "never") {
		t.Error("the job container ran after the fetch failed")
	}
}

func TestTimeoutStopsTheTask(t *testing.T) {
	f := newFixture(t)
	f.scripted(func(m string) awsserver.TaskScript {
		return awsserver.TaskScript{Logs: awsserver.Lines("job", time.Millisecond, startMark(m, 1), "sleeping"), UntilStopped: true, StopDelay: 20 * time.Millisecond}
	})
	j := f.job("sleep 600")
	j.Plan.Timeout = 300 * time.Millisecond
	code, err, log := f.run(context.Background(), f.runner(), j)
	if err != nil || code != ecs.TimeoutExitCode {
		t.Fatalf("code %d, err %v; want 124", code, err)
	}
	assertInOrder(t, log, "sleeping", "── timed out after 300ms (the plan's timeout); stopping the task",
		"── step 1/1 failed with exit code 124", "── timed out after 300ms (the plan's timeout): the task was stopped")
	task := f.aws.Tasks()[0]
	if task.LastStatus != "STOPPED" || len(task.StopRequests) != 1 || !strings.Contains(task.StopRequests[0], "timed out after 300ms") {
		t.Errorf("task %s, stop requests %q", task.LastStatus, task.StopRequests)
	}
}

func TestTaskStoppedOutsideGantryIsErrored(t *testing.T) {
	f := newFixture(t)
	f.scripted(func(m string) awsserver.TaskScript {
		return awsserver.TaskScript{Logs: awsserver.Lines("job", time.Millisecond, startMark(m, 1)), UntilStopped: true}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		if !eventually(5*time.Second, func() bool {
			ts := f.aws.Tasks()
			return len(ts) == 1 && ts[0].LastStatus == "RUNNING"
		}) {
			t.Error("the task never ran")
			return
		}
		_, _ = f.cli.ECS.StopTask(ctx, &awsecs.StopTaskInput{Cluster: aws.String("ci"), Task: aws.String(f.aws.Tasks()[0].ARN), Reason: aws.String("ops cleanup")})
	}()
	_, err, _ := f.run(ctx, f.runner(), f.job("sleep 600"))
	if err == nil || !errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), "stopped outside gantry: ops cleanup") {
		t.Errorf("err %v", err)
	}
}

func TestRunnerRefusesWhatItCannotRun(t *testing.T) {
	f := newFixture(t)
	r := f.runner()
	local := f.job("true")
	local.Source, local.CloneURL, local.Path = jobs.SourceGit, "", "/srv/hello"
	_, err, _ := f.run(context.Background(), r, local)
	if !errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), "configure `github:`") {
		t.Errorf("local path: %v", err)
	}
	big := f.job(strings.Repeat("echo lots of text; ", 600))
	_, err, _ = f.run(context.Background(), r, big)
	if !errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), "at most 8192") {
		t.Errorf("oversized overrides: %v", err)
	}
	clash := f.job("true")
	clash.Plan.Services = []spec.Service{{Name: "job", Image: "redis:7"}}
	_, err, _ = f.run(context.Background(), r, clash)
	if !errors.Is(err, jobs.ErrPermanent) || !strings.Contains(jobs.UserMessage(err, 1).String(), `"job" is taken`) {
		t.Errorf("service named job: %v", err)
	}
	if f.aws.Count("RunTask") != 0 {
		t.Error("RunTask was called for jobs the runner refuses")
	}
	if _, err := ecs.New(f.cli.ECS, f.cli.Logs, ecs.Config{Cluster: "ci", LaunchType: "EXTERNAL"}); err == nil ||
		!strings.Contains(err.Error(), "log_group is not set") || !strings.Contains(err.Error(), `launch_type "EXTERNAL" is not supported`) {
		t.Errorf("New with a bad config: %v", err)
	}
}
