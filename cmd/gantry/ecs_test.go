package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// TestMain lets the test binary be gantry itself for a child process: the
// ECS end-to-end test runs its fetch containers as `gantry fetch` this way.
func TestMain(m *testing.M) {
	if os.Getenv("GANTRY_TEST_RUN_MAIN") == "1" {
		mm := &Main{Args: os.Args[1:], Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
		code := mm.Run(context.Background())
		_ = mm.Close()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

const e2eConfig = `repos:
  hello:
    github: acme/hello
runner:
  kind: ecs
  ecs:
    cluster: ci
    launch_type: FARGATE
    subnets: [subnet-1]
    security_groups: [sg-1]
    log_group: /gantry/jobs
    execution_role_arn: arn:aws:iam::123456789012:role/gantry-exec
    build_role_arn: arn:aws:iam::123456789012:role/gantry-job
    fetch_image: gantry:e2e
workers: 2
`

// `gantry worker` with the ecs runner, its AWS clients pointed at the test
// server through the SDK's own environment, runs a job to success: the
// task's fetch container is this binary running `gantry fetch` against a
// local bare repository, the job container runs the steps with sh. The
// worker runs as an ECS task itself: it protects its task while busy and
// publishes the queue depth.
func TestWorkerRunsJobAsECSTask(t *testing.T) {
	rs := redistest.Start(t)
	srv := awsserver.New(t)
	srv.SetEnv()
	srv.RunLocally(awsserver.LocalConfig{Programs: map[string]awsserver.LocalProgram{
		"gantry": {Path: os.Args[0], Env: []string{"GANTRY_TEST_RUN_MAIN=1"}},
	}})
	workerARN, metadata := selfTask(t, srv)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gantry.yml")
	secretARN := srv.PutSecret("gantry/hello-token", "hello-secret-value-123")
	withSecret := strings.Replace(e2eConfig, "    github: acme/hello\n", "    github: acme/hello\n    secrets:\n      HELLO_TOKEN: "+secretARN+"\n", 1)
	if err := os.WriteFile(cfgPath, []byte(withSecret), 0o644); err != nil {
		t.Fatal(err)
	}
	url, sha := bareRepo(t)

	env := map[string]string{"REDIS_URL": rs.URL(), "GANTRY_CONFIG": cfgPath, "ECS_CONTAINER_METADATA_URI_V4": metadata,
		"GANTRY_HTTP_ADDR": "127.0.0.1:0"}
	// One throttled poll: the SDK retries it, and /metrics counts it.
	srv.FailNext("DescribeTasks", 1, awsserver.Throttling())
	stderr := &syncBuffer{}
	m := &Main{Args: []string{"worker"}, Getenv: func(k string) string { return env[k] }, Stdout: &syncBuffer{}, Stderr: stderr}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan int, 1)
	go func() { exited <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Error("the worker did not stop")
		}
		_ = m.Close()
		if t.Failed() {
			t.Logf("gantry's log:\n%s", stderr)
		}
	})

	store := jobs.NewStore(rs.RDB(), jobs.StoreConfig{})
	log := jobs.NewLog(store, jobs.LogConfig{}, nil)
	j := &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: sha, Source: jobs.SourceGitHub, CloneURL: url, GitHub: "acme/hello",
		Plan: spec.Plan{Name: "branch", Image: "golang:1.26", Timeout: time.Minute, Env: map[string]string{},
			Steps: []spec.Step{{Name: "cat", Run: `echo "built $GANTRY_REPO@$GANTRY_REF: $(cat greeting.txt), with a ${#HELLO_TOKEN}-character token"`},
				{Name: "leak", Run: `echo "the token is $HELLO_TOKEN"`}}},
		Requester: "U1", Origin: "chat", Channel: "C1"}
	if err := store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	protectedWhileBusy := false
	var done *jobs.Job
	deadline := time.Now().Add(30 * time.Second)
	for done == nil || !done.State.Final() {
		if time.Now().After(deadline) {
			t.Fatalf("job #%d is %s after 30s", j.ID, done.State)
		}
		task, _ := srv.Task(workerARN)
		protectedWhileBusy = protectedWhileBusy || task.Protected
		time.Sleep(20 * time.Millisecond)
		var err error
		if done, err = store.Get(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := log.All(ctx, j.ID)
	if done.State != jobs.Succeeded {
		t.Fatalf("job ended %s (%s)\nlog:\n%s", done.State, done.Reason, all)
	}
	if !strings.Contains(string(all), "built hello@main: hello from the repository, with a 22-character token") {
		t.Errorf("the step's output is not in the job log:\n%s", all)
	}
	// The repo's secret reached the job container through its definition,
	// as an ARN that ECS resolved.
	for _, task := range srv.Tasks() {
		if task.ARN == workerARN {
			continue
		}
		if got := task.Containers[1].Secrets; task.Containers[1].Name != "job" || got["HELLO_TOKEN"] != secretARN {
			t.Errorf("job container %s has secrets %v, want HELLO_TOKEN from %s", task.Containers[1].Name, got, secretARN)
		}
		if task.TaskRoleARN != "arn:aws:iam::123456789012:role/gantry-job" {
			t.Errorf("the build ran with role %q, want the build role", task.TaskRoleARN)
		}
	}
	// gantry read the secret with its own role, and the job log hides it.
	if srv.Count("GetSecretValue") == 0 {
		t.Error("gantry never read the secret's value, so it cannot hide it in the job log")
	}
	if strings.Contains(string(all), "hello-secret-value-123") || !strings.Contains(string(all), "the token is "+jobs.Redacted) {
		t.Errorf("the secret's value is not redacted in the job log:\n%s", all)
	}
	if n := srv.Count("RunTask"); n != 2 { // the worker's own task, and the job's
		t.Errorf("RunTask called %d times, want 2", n)
	}
	if !protectedWhileBusy {
		t.Error("the worker's task was never protected while it ran the job")
	}
	probes := regexp.MustCompile(`worker probes listening"? addr=(\S+)`).FindStringSubmatch(stderr.String())
	if probes == nil {
		t.Fatal("the worker did not say where it listens")
	}
	resp, err := http.Get("http://" + probes[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The one failure, and not what every job gets and gantry expects (a
	// log stream that does not exist yet, a new task definition family).
	counted := regexp.MustCompile(`(?m)^gantry_external_call_errors_total\{[^}]*service="aws"\} .*$`).FindAllString(string(body), -1)
	if want := `gantry_external_call_errors_total{call="ECS.DescribeTasks",service="aws"} 1`; len(counted) != 1 || counted[0] != want {
		t.Errorf("/metrics counts these AWS failures:\n%s\nwant only %s", strings.Join(counted, "\n"), want)
	}
	waitUntil(t, "protection off when idle", func() bool { task, _ := srv.Task(workerARN); return !task.Protected })
	waitUntil(t, "the queue depth metric", func() bool {
		for _, mt := range srv.Metrics() {
			if mt.Namespace == "Gantry" && mt.Name == "QueueDepth" && mt.Dimensions["Queue"] == "gantry" {
				return true
			}
		}
		return false
	})
}

func TestFetchSubcommand(t *testing.T) {
	url, sha := bareRepo(t)
	dst := filepath.Join(t.TempDir(), "src")
	out := &syncBuffer{}
	m := &Main{Args: []string{"fetch", "-url", url, "-sha", sha, "-dir", dst}, Getenv: func(string) string { return "" }, Stdout: out, Stderr: out}
	if code := m.Run(context.Background()); code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if b, err := os.ReadFile(filepath.Join(dst, "greeting.txt")); err != nil || string(b) != "hello from the repository\n" {
		t.Errorf("greeting.txt = %q, %v", b, err)
	}
	errOut := &syncBuffer{}
	m = &Main{Args: []string{"fetch", "-sha", sha}, Getenv: func(string) string { return "" }, Stdout: errOut, Stderr: errOut}
	if code := m.Run(context.Background()); code != 1 || !strings.Contains(errOut.String(), "gantry: GANTRY_FETCH_URL: is not set") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	errOut = &syncBuffer{}
	m = &Main{Args: []string{"fetch", "s3cr3t"}, Getenv: func(string) string { return "" }, Stdout: errOut, Stderr: errOut}
	if code := m.Run(context.Background()); code != 1 || !strings.Contains(errOut.String(), "never from the command line") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestECSRunnerSettingsAreChecked(t *testing.T) {
	srv := awsserver.New(t)
	srv.SetEnv()
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gantry.yml")
	if err := os.WriteFile(cfgPath, []byte(e2eConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t)
	out := &syncBuffer{}
	env := map[string]string{"REDIS_URL": rs.URL(), "GANTRY_CONFIG": cfgPath}
	m := &Main{Args: []string{"worker"}, Getenv: func(k string) string { return env[k] }, Stdout: out, Stderr: out}
	defer m.Close()
	if code := m.Run(context.Background()); code != 1 || !strings.Contains(out.String(), "gantry: AWS_REGION: is not set") {
		t.Errorf("exit %d: %s", code, out)
	}
}

// selfTask starts a task standing for the worker's own, and serves task
// metadata that names it.
func selfTask(t *testing.T, srv *awsserver.Server) (arn, uri string) {
	t.Helper()
	c := awsecs.NewFromConfig(srv.AWSConfig())
	ctx := context.Background()
	td, err := c.RegisterTaskDefinition(ctx, &awsecs.RegisterTaskDefinitionInput{Family: aws.String("gantry-worker"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("gantry"), Image: aws.String("gantry:e2e")}}})
	if err != nil {
		t.Fatal(err)
	}
	srv.QueueScripts(awsserver.RunUntilStopped())
	out, err := c.RunTask(ctx, &awsecs.RunTaskInput{Cluster: aws.String("services"), TaskDefinition: td.TaskDefinition.TaskDefinitionArn, LaunchType: ecstypes.LaunchTypeEc2})
	if err != nil {
		t.Fatal(err)
	}
	arn = aws.ToString(out.Tasks[0].TaskArn)
	meta := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"Cluster": "services", "TaskARN": arn})
	}))
	t.Cleanup(meta.Close)
	return arn, meta.URL
}

// bareRepo is a bare git repository with one commit, by file:// URL.
func bareRepo(t *testing.T) (url, sha string) {
	t.Helper()
	work, bare := t.TempDir(), filepath.Join(t.TempDir(), "hello.git")
	run := func(dir string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run(work, "init", "-q", "-b", "main")
	if err := os.WriteFile(filepath.Join(work, "greeting.txt"), []byte("hello from the repository\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "greeting")
	run("", "clone", "-q", "--bare", work, bare)
	return "file://" + bare, run(work, "rev-parse", "HEAD")
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A "file:" secret cannot reach an ECS task without its value passing
// through gantry: start-up refuses it and names it.
func TestECSRunnerRefusesFileSecrets(t *testing.T) {
	srv := awsserver.New(t)
	srv.SetEnv()
	cfgPath := filepath.Join(t.TempDir(), "gantry.yml")
	cfg := e2eConfig + `environments:
  production:
    deployers: ["*"]
    secrets:
      DEPLOY_KEY: file:/etc/gantry/deploy-key
`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	rs := redistest.Start(t)
	out := &syncBuffer{}
	env := map[string]string{"REDIS_URL": rs.URL(), "GANTRY_CONFIG": cfgPath}
	m := &Main{Args: []string{"worker"}, Getenv: func(k string) string { return env[k] }, Stdout: out, Stderr: out}
	defer m.Close()
	want := `gantry: environments.production.secrets.DEPLOY_KEY: "file:/etc/gantry/deploy-key" cannot be used with the ecs runner`
	if code := m.Run(context.Background()); code != 1 || !strings.Contains(out.String(), want) {
		t.Errorf("exit %d: %s", code, out)
	}
}

// `gantry check gantry.yml` says which role each kind of job runs with,
// where, and which secrets (names and ARNs) each repo and environment
// grants.
func TestCheckShowsECSRolesAndSecrets(t *testing.T) {
	const cfg = `repos:
  hello:
    github: acme/hello
    secrets:
      NPM_TOKEN: arn:aws:ssm:us-east-1:123456789012:parameter/gantry/npm
runner:
  kind: ecs
  ecs:
    cluster: ci
    launch_type: FARGATE
    subnets: [subnet-1]
    security_groups: [sg-1]
    log_group: /gantry/jobs
    execution_role_arn: arn:aws:iam::123456789012:role/gantry-exec
    build_role_arn: arn:aws:iam::123456789012:role/gantry-build
    fetch_image: gantry:e2e
    environments:
      production:
        task_role_arn: arn:aws:iam::123456789012:role/gantry-deploy-production
        cluster: prod
        subnets: [subnet-prod]
environments:
  production:
    deployers: ["*"]
    secrets:
      DEPLOY_KEY: arn:aws:secretsmanager:us-east-1:123456789012:secret:gantry/deploy-key-AbCdEf
  staging: { deployers: ["*"] }
`
	path := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut := &syncBuffer{}, &syncBuffer{}
	m := &Main{Args: []string{"check", path}, Getenv: func(string) string { return "" }, Stdout: out, Stderr: errOut}
	if code := m.Run(context.Background()); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	for _, want := range []string{
		"    builds run with role arn:aws:iam::123456789012:role/gantry-build, cluster ci\n",
		"    deploys to production run with role arn:aws:iam::123456789012:role/gantry-deploy-production, cluster prod (subnets subnet-prod, security groups sg-1)\n",
		"    deploys to staging run with no AWS role, cluster ci (not in runner.ecs.environments)\n",
		"    every job of hello gets NPM_TOKEN (arn:aws:ssm:us-east-1:123456789012:parameter/gantry/npm)\n",
		"    deploys to production also get DEPLOY_KEY (arn:aws:secretsmanager:us-east-1:123456789012:secret:gantry/deploy-key-AbCdEf) (over a repo's of the same name)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
}
