// Package ecs runs jobs as AWS ECS tasks: the runner for production.
//
// Each job is one task of a definition that gantry registers on demand:
// a fetch container (gantry's own image running `gantry fetch`) checks the
// repository out at the job's SHA into a task volume; the job container
// (the plan's image) then runs the steps there; each service of the plan
// is a non-essential container beside them. The runner starts the task
// with RunTask (idempotent by a client token derived from the job), writes
// its ARN to the job record, and follows it with DescribeTasks and the job
// container's awslogs stream until it stops. A worker that finds a job
// with a task ARN follows that task instead of starting another.
//
// A build's task runs with the build role on the runner's cluster; a
// deploy's with its environment's deploy role, cluster and network (see
// roles.go). The secrets the server config grants a job are container
// secrets of its definition, fetched by ECS; gantry reads their values
// only to redact them (see secrets.go).
package ecs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// ECSAPI is what the runner calls of ECS.
type ECSAPI interface {
	RegisterTaskDefinition(context.Context, *awsecs.RegisterTaskDefinitionInput, ...func(*awsecs.Options)) (*awsecs.RegisterTaskDefinitionOutput, error)
	DescribeTaskDefinition(context.Context, *awsecs.DescribeTaskDefinitionInput, ...func(*awsecs.Options)) (*awsecs.DescribeTaskDefinitionOutput, error)
	RunTask(context.Context, *awsecs.RunTaskInput, ...func(*awsecs.Options)) (*awsecs.RunTaskOutput, error)
	DescribeTasks(context.Context, *awsecs.DescribeTasksInput, ...func(*awsecs.Options)) (*awsecs.DescribeTasksOutput, error)
	StopTask(context.Context, *awsecs.StopTaskInput, ...func(*awsecs.Options)) (*awsecs.StopTaskOutput, error)
}

// Defaults of Config.
const (
	DefaultImage        = "buildpack-deps:bookworm"
	DefaultStreamPrefix = "gantry"
	DefaultCPU          = "1024"
	DefaultMemory       = "2048"
	// StartedBy is the startedBy of every task the runner starts.
	StartedBy = "gantry"
)

// Config configures the runner. Zero values are the defaults.
type Config struct {
	Cluster          string
	LaunchType       string // FARGATE or EC2; or CapacityProvider
	CapacityProvider string
	Subnets          []string
	SecurityGroups   []string
	AssignPublicIP   bool
	Region           string // of the log group, for the awslogs driver
	LogGroup         string
	LogStreamPrefix  string // "" is "gantry"
	ExecutionRoleARN string // needed on Fargate, for FetchTokenARN and for job secrets
	// BuildRoleARN is the task role of builds: what a build's steps may do
	// in AWS ("" is nothing). A build never gets any other role.
	BuildRoleARN string
	// Environments are how deploys to each environment run: the deploy
	// role (TaskRoleARN, "" is none), and the cluster, subnets and security
	// groups where they differ from the runner's (each empty one is the
	// runner's). A deploy to an environment not listed runs with no task
	// role on the runner's cluster.
	Environments map[string]spec.ECSEnvironment
	// Secrets are the secrets a job gets (nil: none): each becomes a
	// container secret of the job container, fetched by the execution
	// role. Only ARN sources are accepted.
	Secrets func(j *jobs.Job) []spec.Secret
	// Redaction learns the values of a job's secrets before its task
	// starts, so the log hides them (nil: nothing learns them, and they
	// reach the log as the job prints them).
	Redaction    SecretLearner
	FetchImage   string // gantry's own image, which runs `gantry fetch`
	DefaultImage string // for plans that name no image; "" is DefaultImage
	CPU, Memory  string // task size; "" is 1024 and 2048
	// FetchTokenARN is an SSM parameter or Secrets Manager secret holding
	// the token the fetch container clones with; the definition names it
	// as a secret, so the value never passes through gantry. Without it,
	// FetchToken (if any) is given to the fetch container in its env.
	FetchTokenARN string
	FetchToken    string
	// Artifacts is where jobs' artifacts go: the task uploads them to the
	// bucket itself. No bucket: reports still come back, artifacts are
	// not kept.
	Artifacts ArtifactsConfig

	Poll          time.Duration // first wait between looks at a task; 0 is 2s
	MaxPoll       time.Duration // the wait grows to this while nothing happens; 0 is 10s
	StartTimeout  time.Duration // a task not RUNNING by then is stopped and the job errored; 0 is 20m
	StopWait      time.Duration // how long to wait for STOPPED after StopTask; 0 is 3m
	LogGrace      time.Duration // after STOPPED, how long the last log lines may take; 0 is 10s
	PlaceAttempts int           // RunTask tries while ECS reports capacity failures; 0 is 4
	PlaceBackoff  time.Duration // wait before the second try, doubled after; 0 is 5s
	Logger        *slog.Logger
	// Previews keeps the tasks of builds whose plan has preview: running
	// once their steps succeed (preview.go); nil: such a task is stopped
	// after its steps, and the thread says why.
	Previews *PreviewConfig
}

// Runner runs jobs as ECS tasks. It implements jobs.Runner.
type Runner struct {
	ecs  ECSAPI
	logs LogsAPI
	cfg  Config
	log  *slog.Logger

	defMu sync.Mutex
	defs  map[string]string // definition hash -> task definition ARN
}

// New returns a runner that calls ECS and CloudWatch Logs through api and
// logs. It checks cfg and says what is missing or wrong.
func New(api ECSAPI, logs LogsAPI, cfg Config) (*Runner, error) {
	cfg.LogStreamPrefix = cmp.Or(cfg.LogStreamPrefix, DefaultStreamPrefix)
	cfg.DefaultImage = cmp.Or(cfg.DefaultImage, DefaultImage)
	cfg.CPU = cmp.Or(cfg.CPU, DefaultCPU)
	cfg.Memory = cmp.Or(cfg.Memory, DefaultMemory)
	cfg.Poll = cmp.Or(cfg.Poll, 2*time.Second)
	cfg.MaxPoll = max(cmp.Or(cfg.MaxPoll, 10*time.Second), cfg.Poll)
	cfg.StartTimeout = cmp.Or(cfg.StartTimeout, 20*time.Minute)
	cfg.StopWait = cmp.Or(cfg.StopWait, 3*time.Minute)
	cfg.LogGrace = cmp.Or(cfg.LogGrace, 10*time.Second)
	cfg.PlaceAttempts = cmp.Or(cfg.PlaceAttempts, 4)
	cfg.PlaceBackoff = cmp.Or(cfg.PlaceBackoff, 5*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var problems []string
	need := func(ok bool, format string, args ...any) {
		if !ok {
			problems = append(problems, fmt.Sprintf(format, args...))
		}
	}
	need(cfg.Cluster != "", "cluster is not set")
	need(cfg.LogGroup != "", "log_group is not set")
	need(cfg.FetchImage != "", "fetch_image is not set (gantry's own image, which checks the source out)")
	need(len(cfg.Subnets) > 0, "subnets are not set (tasks run in awsvpc network mode)")
	need(cfg.Region != "", "the AWS region is not known (set AWS_REGION)")
	need((cfg.LaunchType == "") != (cfg.CapacityProvider == ""), "set one of launch_type and capacity_provider")
	need(cfg.LaunchType == "" || cfg.LaunchType == "FARGATE" || cfg.LaunchType == "EC2",
		"launch_type %q is not supported by the ecs runner (FARGATE or EC2: tasks need awsvpc networking)", cfg.LaunchType)
	need(!fargate(cfg) || cfg.ExecutionRoleARN != "", "execution_role_arn is not set (Fargate needs it to pull images and write logs)")
	need(cfg.FetchTokenARN == "" || cfg.ExecutionRoleARN != "", "execution_role_arn is not set (ECS reads the fetch token secret with it)")
	if len(problems) > 0 {
		return nil, fmt.Errorf("ecs runner: %s", strings.Join(problems, "; "))
	}
	return &Runner{ecs: api, logs: logs, cfg: cfg, log: cfg.Logger, defs: map[string]string{}}, nil
}

func fargate(cfg Config) bool {
	return cfg.LaunchType == "FARGATE" || cfg.CapacityProvider == "FARGATE" || cfg.CapacityProvider == "FARGATE_SPOT"
}

// Run runs the job as an ECS task, or follows the task it already has.
func (r *Runner) Run(ctx context.Context, x *jobs.Execution) (int, error) {
	j := x.Job
	if j.Handle != "" {
		return r.reattach(ctx, x)
	}
	if err := checkJob(j); err != nil {
		return 0, err
	}
	secrets, err := r.jobSecrets(j)
	if err != nil {
		return 0, err
	}
	if err := r.learn(ctx, secrets); err != nil {
		return 0, err
	}
	ts := taskSpec{plan: j.Plan, place: r.placement(j), secrets: secrets}
	def, err := r.definition(ctx, ts)
	if err != nil {
		return 0, err
	}
	in, err := r.runTaskInput(x, def, ts)
	if err != nil {
		return 0, err
	}
	x.Log.Line(fmt.Sprintf("── starting an ECS task (image %s, definition %s, %s%s)", def.image, shortDef(def.arn), roleName(ts.place.role), secretNames(secrets)))
	arn, err := r.start(ctx, x, in, ts)
	if err != nil {
		return 0, err
	}
	bg := context.WithoutCancel(ctx)
	if err := x.Attach(bg, arn); err != nil {
		// Without its ARN on record nobody could follow or stop the task:
		// stop it rather than leave it running unseen.
		r.stop(bg, ts.place.cluster, arn, fmt.Sprintf("gantry could not record this task for job %s", j.Name()))
		return 0, fmt.Errorf("record task %s of job %s: %w", arn, j.Name(), err)
	}
	x.Log.Line(fmt.Sprintf("── ECS task %s started; checking out %s at %s", taskID(arn), j.Repo, j.ShortSHA()))
	return r.follow(ctx, x, arn, cursor{})
}

// learn makes the values of the job's secrets known to the redactor.
func (r *Runner) learn(ctx context.Context, secrets []spec.Secret) error {
	if r.cfg.Redaction == nil || len(secrets) == 0 {
		return nil
	}
	return r.cfg.Redaction.Learn(ctx, secrets...)
}

// secretNames is ", secrets A, B" for a log line, or "".
func secretNames(secrets []spec.Secret) string {
	if len(secrets) == 0 {
		return ""
	}
	names := make([]string, len(secrets))
	for i, s := range secrets {
		names[i] = s.Name
	}
	return ", secrets " + strings.Join(names, ", ")
}

// reattach follows the task a previous worker started for the job.
func (r *Runner) reattach(ctx context.Context, x *jobs.Execution) (int, error) {
	j := x.Job
	if !strings.HasPrefix(j.Handle, "arn:") || !strings.Contains(j.Handle, ":task/") {
		return 0, jobs.Permanent(fmt.Errorf("job %s has handle %q, which is not an ECS task ARN", j.Name(), j.Handle))
	}
	cur, err := parseCursor(j.Cursor)
	if err != nil {
		r.log.Warn("unreadable log cursor; reading the task's log from its start", "job", j.ID, "err", err)
	}
	// This process may never have read the task's secrets: learn them
	// before its lines are copied. The task runs whatever happens here,
	// so a failure is said, not fatal.
	if secrets, err := r.jobSecrets(j); err == nil {
		if err := r.learn(ctx, secrets); err != nil {
			r.log.Error("learn the secrets of a re-attached task; its log may show them", "job", j.ID, "err", err)
			x.Log.Line("── " + jobs.UserMessage(err, j.ID).String() + "; its values may show in this log")
		}
	}
	x.Log.Line(fmt.Sprintf("── re-attached to ECS task %s (the worker that started it stopped)", taskID(j.Handle)))
	_ = x.Note(context.WithoutCancel(ctx), say.F("%s: a new worker re-attached to its ECS task %s", j.Name(), taskID(j.Handle)))
	return r.follow(ctx, x, j.Handle, cur)
}

// checkJob refuses what the ECS runner cannot run.
func checkJob(j *jobs.Job) error {
	if j.Source != jobs.SourceGitHub || j.CloneURL == "" {
		return jobs.Permanent(jobs.Userf("%s is a local directory on gantry's server; the ecs runner clones the repository inside the task, so configure `github:` for it (or use the local runner)", j.Repo))
	}
	if !shaRE.MatchString(j.SHA) {
		return jobs.Permanent(fmt.Errorf("job %s has no full commit SHA to check out (%q)", j.Name(), j.SHA))
	}
	for _, s := range j.Plan.Services {
		if s.Name == containerFetch || s.Name == containerJob {
			return jobs.Permanent(jobs.Userf("the service name %q is taken by the ecs runner's own %q container; rename the service in .gantry.yml", s.Name, s.Name))
		}
	}
	return nil
}

// taskID is the last part of a task ARN.
func taskID(arn string) string {
	return arn[strings.LastIndex(arn, "/")+1:]
}

// shortDef is family:revision of a definition ARN.
func shortDef(arn string) string {
	return arn[strings.LastIndex(arn, "/")+1:]
}

var errNotStopped = errors.New("the task did not stop in time")
