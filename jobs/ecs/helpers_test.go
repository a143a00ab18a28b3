package ecs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

// TestMain lets the test binary stand in for gantry in two roles: the
// fetch container's `gantry fetch` (under awsserver.RunLocally), and a
// worker process that a test kills with SIGKILL.
func TestMain(m *testing.M) {
	switch {
	case len(os.Args) > 1 && os.Args[1] == "collect":
		// The copy of this binary that the fetch container left for the
		// job container, run after the steps as `gantry collect`.
		os.Exit(collectMain())
	case os.Getenv("GANTRY_ECS_TEST_FETCH") == "1":
		os.Exit(fetchMain())
	case os.Getenv("GANTRY_ECS_TEST_WORKER_REDIS") != "":
		workerMain()
		return
	}
	os.Exit(m.Run())
}

func fetchMain() int {
	if f := os.Getenv("GANTRY_ECS_TEST_TOKEN_FILE"); f != "" {
		_ = os.WriteFile(f, []byte(os.Getenv("GANTRY_FETCH_TOKEN")), 0o600)
	}
	err := ecs.Fetch(context.Background(), ecs.FetchConfig{
		URL: os.Getenv("GANTRY_FETCH_URL"), SHA: os.Getenv("GANTRY_FETCH_SHA"), Dir: os.Getenv("GANTRY_FETCH_DIR"),
		Token: os.Getenv("GANTRY_FETCH_TOKEN"), Out: os.Stdout, Tool: os.Getenv("GANTRY_FETCH_TOOL"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "gantry:", err)
		return 1
	}
	return 0
}

// workerMain is a worker with the ECS runner, configured from the
// environment that awsserver.Env gives.
func workerMain() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		panic(err)
	}
	c := ecs.NewClients(awsCfg, ecs.RetryOptions{MaxAttempts: 3, MaxBackoff: 20 * time.Millisecond})
	s := jobs.NewStore(rdb.New(redis.NewClient(&redis.Options{Addr: os.Getenv("GANTRY_ECS_TEST_WORKER_REDIS")})), jobs.StoreConfig{})
	r, err := ecs.New(c.ECS, c.Logs, runnerConfig(awsCfg.Region))
	if err != nil {
		panic(err)
	}
	w := jobs.NewWorker(s, jobs.NewLog(s, jobs.LogConfig{FlushEvery: 20 * time.Millisecond}, nil), r, nil,
		jobs.WorkerConfig{Name: "doomed", LeaseTTL: time.Second, Concurrency: 1})
	_ = w.Run(ctx)
}

const (
	logGroup = "/gantry/jobs"
	fetchImg = "gantry:test"
	jobImage = "golang:1.26"
)

func runnerConfig(region string) ecs.Config {
	return ecs.Config{
		Cluster: "ci", LaunchType: "FARGATE", Subnets: []string{"subnet-1", "subnet-2"}, SecurityGroups: []string{"sg-1"},
		Region: region, LogGroup: logGroup, LogStreamPrefix: "gantry",
		ExecutionRoleARN: "arn:aws:iam::123456789012:role/gantry-exec", BuildRoleARN: "arn:aws:iam::123456789012:role/gantry-job",
		FetchImage: fetchImg, Poll: 10 * time.Millisecond, MaxPoll: 40 * time.Millisecond,
		PlaceBackoff: 10 * time.Millisecond, LogGrace: 500 * time.Millisecond, StopWait: 10 * time.Second,
	}
}

// fixture is a Redis-backed store and log, an AWS test server, and the
// clients the runner uses against it.
type fixture struct {
	t     *testing.T
	redis *redistest.Server
	store *jobs.Store
	log   *jobs.Log
	aws   *awsserver.Server
	cli   ecs.Clients
	repo  *gitRepo
	// redactor is the log's: it learns values at run time with Add.
	redactor *jobs.Redactor
}

func newFixture(t *testing.T, opts ...awsserver.Option) *fixture {
	t.Helper()
	rs := redistest.Start(t)
	s := jobs.NewStore(rs.RDB(), jobs.StoreConfig{})
	srv := awsserver.New(t, opts...)
	redactor := jobs.NewRedactor("s3cr3t-token")
	f := &fixture{
		t: t, redis: rs, store: s, aws: srv, redactor: redactor,
		log: jobs.NewLog(s, jobs.LogConfig{FlushEvery: 20 * time.Millisecond}, redactor),
		cli: ecs.NewClients(srv.AWSConfig(), ecs.RetryOptions{MaxAttempts: 3, MaxBackoff: 20 * time.Millisecond}),
	}
	f.repo = newGitRepo(t)
	return f
}

// runLocally makes tasks run their containers here: the fetch container
// as this test binary in its fetch role, the job container with sh.
func (f *fixture) runLocally(extraFetchEnv ...string) {
	f.aws.RunLocally(awsserver.LocalConfig{
		Programs: map[string]awsserver.LocalProgram{
			"gantry": {Path: os.Args[0], Env: append([]string{"GANTRY_ECS_TEST_FETCH=1"}, extraFetchEnv...)},
		},
		Secrets: map[string]string{"arn:aws:ssm:us-east-1:123456789012:parameter/gantry/token": "s3cr3t-token"},
	})
}

func (f *fixture) runner(mod ...func(*ecs.Config)) *ecs.Runner {
	f.t.Helper()
	cfg := runnerConfig(f.aws.Region())
	for _, m := range mod {
		m(&cfg)
	}
	r, err := ecs.New(f.cli.ECS, f.cli.Logs, cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// job is a build of the test repository at its head, running steps.
func (f *fixture) job(steps ...string) *jobs.Job {
	plan := spec.Plan{Name: "branch", Image: jobImage, Timeout: time.Minute, Env: map[string]string{"GREETING": "hello"}}
	for _, s := range steps {
		plan.Steps = append(plan.Steps, spec.Step{Name: s, Run: s})
	}
	return &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: f.repo.head, Source: jobs.SourceGitHub,
		CloneURL: f.repo.url, GitHub: "acme/hello", Plan: plan, Requester: "U1", Origin: "chat", Channel: "C1"}
}

// run creates j and runs it with r directly (no worker), with ctx.
func (f *fixture) run(ctx context.Context, r jobs.Runner, j *jobs.Job) (int, error, string) {
	f.t.Helper()
	if j.ID == 0 {
		if err := f.store.Create(context.Background(), j); err != nil {
			f.t.Fatal(err)
		}
	}
	w := f.log.Writer(context.Background(), j.ID)
	code, err := r.Run(ctx, jobs.NewExecution(f.store, j, w))
	if cerr := w.Close(); cerr != nil {
		f.t.Fatal(cerr)
	}
	return code, err, f.logText(j.ID)
}

func (f *fixture) logText(id int64) string {
	f.t.Helper()
	b, err := f.log.All(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

// worker runs a real jobs.Worker with r until the test ends.
func (f *fixture) worker(r jobs.Runner, cfg jobs.WorkerConfig) {
	f.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w := jobs.NewWorker(f.store, f.log, r, nil, cfg)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	f.t.Cleanup(func() { cancel(); <-done })
}

func (f *fixture) create(j *jobs.Job) {
	f.t.Helper()
	if err := f.store.Create(context.Background(), j); err != nil {
		f.t.Fatal(err)
	}
}

// waitState polls job id until it reaches want.
func (f *fixture) waitState(id int64, want jobs.State, within time.Duration) *jobs.Job {
	f.t.Helper()
	deadline := time.Now().Add(within)
	var j *jobs.Job
	for time.Now().Before(deadline) {
		var err error
		if j, err = f.store.Get(context.Background(), id); err != nil {
			f.t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if j.State.Final() {
			f.t.Fatalf("job #%d ended %s (%s), want %s\nlog:\n%s", id, j.State, j.Reason.String(), want, f.logText(id))
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.t.Fatalf("job #%d is %s after %s, want %s\nlog:\n%s", id, j.State, within, want, f.logText(id))
	return nil
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	if !eventually(within, cond) {
		t.Fatalf("timed out after %s waiting for %s", within, what)
	}
}

// eventually polls cond until it holds or within passes; for goroutines
// other than the test's, which may not call t.Fatal.
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// markerOf finds GANTRY_MARKER in the job container's overrides, so a
// scripted task can print the step markers of the job that started it.
func markerOf(in awsecs.RunTaskInput) string {
	for _, o := range in.Overrides.ContainerOverrides {
		for _, kv := range o.Environment {
			if *kv.Name == "GANTRY_MARKER" {
				return *kv.Value
			}
		}
	}
	return ""
}

// scripted makes every task follow the script fn builds from the job's
// step marker.
func (f *fixture) scripted(fn func(mark string) awsserver.TaskScript) {
	f.aws.Script(func(_ ecstypes.TaskDefinition, in awsecs.RunTaskInput) awsserver.TaskScript {
		return fn(markerOf(in))
	})
}

func startMark(m string, i int) string { return fmt.Sprintf("##gantry:%s:start:%d", m, i) }
func endMark(m string, i, code int) string {
	return fmt.Sprintf("##gantry:%s:end:%d:%d", m, i, code)
}

// gitRepo is a bare repository with two commits, reachable by file:// URL.
type gitRepo struct {
	url, first, head string
}

func newGitRepo(t *testing.T) *gitRepo {
	t.Helper()
	work, bare := t.TempDir(), filepath.Join(t.TempDir(), "hello.git")
	git(t, work, "init", "-q", "-b", "main")
	write(t, filepath.Join(work, "version.txt"), "one\n")
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "one")
	first := git(t, work, "rev-parse", "HEAD")
	write(t, filepath.Join(work, "version.txt"), "two\n")
	write(t, filepath.Join(work, "run.sh"), "#!/bin/sh\necho \"run.sh says $1\"\n")
	if err := os.Chmod(filepath.Join(work, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", ".")
	git(t, work, "commit", "-q", "-m", "two")
	head := git(t, work, "rev-parse", "HEAD")
	git(t, "", "clone", "-q", "--bare", work, bare)
	return &gitRepo{url: "file://" + bare, first: first, head: head}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}
