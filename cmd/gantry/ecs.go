package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/gantry-ci/gantry/jobs"
	ecsrun "github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

// awsClients makes the clients the ecs runner uses (see loadAWS).
func (m *Main) awsClients(ctx context.Context) (ecsrun.Clients, aws.Config, error) {
	cfg, err := m.loadAWS(ctx)
	if err != nil {
		return ecsrun.Clients{}, aws.Config{}, &settingError{"AWS", fmt.Sprintf("cannot load the AWS configuration: %v", err)}
	}
	if cfg.Region == "" {
		return ecsrun.Clients{}, aws.Config{}, &settingError{"AWS_REGION", "is not set: the ecs runner needs the region of its cluster"}
	}
	return ecsrun.NewClients(cfg, ecsrun.RetryOptions{}), cfg, nil
}

// ecsRunner builds the ECS runner from the server config and the AWS SDK's
// own configuration chain.
func (m *Main) ecsRunner(ctx context.Context, p *parts) (jobs.Runner, error) {
	c, awsCfg, err := m.awsClients(ctx)
	if err != nil {
		return nil, err
	}
	e := p.cfg.Runner.ECS
	if err := checkECSSecrets(p.cfg); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(p.cfg.Repos)) {
		if p.cfg.Repos[name].GitHub == "" {
			m.logger.Warn("repo has only a local path: the ecs runner clones inside the task and cannot run its jobs (give it github:)", "repo", name)
		}
	}
	cfg := ecsrun.Config{
		Cluster: e.Cluster, LaunchType: e.LaunchType, CapacityProvider: e.CapacityProvider,
		Subnets: e.Subnets, SecurityGroups: e.SecurityGroups, AssignPublicIP: e.AssignPublicIP,
		Region: awsCfg.Region, LogGroup: e.LogGroup, LogStreamPrefix: e.LogStreamPrefix,
		ExecutionRoleARN: e.ExecutionRoleARN, BuildRoleARN: e.BuildRoleARN, Environments: e.Environments,
		Secrets: jobSecrets(p.cfg), Redaction: m.secretReader(c, p),
		FetchImage: e.FetchImage, CPU: e.CPU, Memory: e.Memory,
		FetchTokenARN: m.Getenv("GANTRY_FETCH_TOKEN_ARN"),
		Artifacts: ecsrun.ArtifactsConfig{Bucket: p.cfg.Artifacts.Bucket, Prefix: p.cfg.Artifacts.Prefix,
			Endpoint: p.cfg.Artifacts.Endpoint, Limits: p.artifactLimits()},
		Logger:   m.logger,
		Previews: &ecsrun.PreviewConfig{Max: p.cfg.Previews.PreviewMax(), TTL: p.cfg.Previews.PreviewTTL(), URL: p.previewLink, Now: p.store.Now},
	}
	if cfg.FetchTokenARN == "" {
		// gantry's own GITHUB_TOKEN can write statuses and deployments: it
		// never goes into a task. A clone token given this way must be
		// named on purpose, and it is visible in the RunTask overrides.
		cfg.FetchToken = m.Getenv("GANTRY_FETCH_TOKEN")
		switch {
		case cfg.FetchToken != "":
			m.logger.Warn("GANTRY_FETCH_TOKEN goes to each task in its RunTask overrides, where anyone who may DescribeTasks can read it; store it in SSM or Secrets Manager and set GANTRY_FETCH_TOKEN_ARN instead")
		case m.Getenv("GITHUB_TOKEN") != "":
			m.logger.Warn("neither GANTRY_FETCH_TOKEN_ARN nor GANTRY_FETCH_TOKEN is set: tasks clone without a token, which works for public repositories only")
		}
	}
	r, err := ecsrun.New(c.ECS, c.Logs, cfg)
	if err != nil {
		return nil, &settingError{"runner.ecs", err.Error()}
	}
	p.previews.ecs = r
	return r, nil
}

// jobSecrets is what the server config grants a job: its repo's secrets,
// and for a deploy its environment's. A build never gets an environment's.
func jobSecrets(cfg *spec.Server) func(j *jobs.Job) []spec.Secret {
	return func(j *jobs.Job) []spec.Secret {
		env := ""
		if j.Kind == jobs.Deploy {
			env = j.Env
		}
		return cfg.SecretsFor(j.Repo, env)
	}
}

// checkECSSecrets refuses secrets the ECS runner cannot give a task: a
// "file:" secret's value would have to pass through gantry into the
// RunTask call, where anyone who may describe tasks reads it. It also
// needs the execution role, which fetches ARN secrets.
func checkECSSecrets(cfg *spec.Server) error {
	check := func(where string, secrets []spec.Secret) error {
		for _, s := range secrets {
			if !s.IsARN() {
				return &settingError{fmt.Sprintf("%s.secrets.%s", where, s.Name), fmt.Sprintf(
					"%q cannot be used with the ecs runner: it gives tasks only Secrets Manager or SSM parameter ARNs, which ECS fetches itself (a file's contents would pass through gantry into the RunTask call); store the value in Secrets Manager or SSM and name its ARN", s.Source)}
			}
		}
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Repos)) {
		if err := check("repos."+name, cfg.Repos[name].Secrets); err != nil {
			return err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Environments)) {
		if err := check("environments."+name, cfg.Environments[name].Secrets); err != nil {
			return err
		}
	}
	if len(cfg.AllSecrets()) > 0 && cfg.Runner.ECS.ExecutionRoleARN == "" {
		return &settingError{"runner.ecs.execution_role_arn", "is not set: ECS fetches the secrets of jobs with it"}
	}
	return nil
}

// secretReader reads the values of job secrets with gantry's own role and
// teaches them to the redactor, so job logs hide them.
func (m *Main) secretReader(c ecsrun.Clients, p *parts) ecsrun.SecretLearner {
	return ecsrun.NewSecretReader(c.SecretsManager, c.SSM, ecsrun.SecretReaderConfig{Redact: p.redactor.Add, Logger: m.logger})
}

// ecsWorkerHooks starts what a worker with the ECS runner runs beside it:
// the QueueDepth metric for autoscaling, and, when the worker is itself an
// ECS task, its scale-in protection, whose Busy callback it returns.
func (m *Main) ecsWorkerHooks(ctx context.Context, p *parts) (func(busy bool), error) {
	c, _, err := m.awsClients(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	m.onClose(func() error { cancel(); wg.Wait(); return nil })

	pub := ecsrun.NewDepthPublisher(c.CloudWatch, ecsrun.QueueDepth(jobs.NewQueue(p.store)), ecsrun.MetricsConfig{
		Dimensions: map[string]string{"Queue": cmp.Or(m.Getenv("GANTRY_REDIS_NAMESPACE"), "gantry")}, Logger: m.logger,
	})
	wg.Add(1)
	go func() { defer wg.Done(); pub.Run(ctx) }()

	uri := m.Getenv("ECS_CONTAINER_METADATA_URI_V4")
	if uri == "" {
		m.logger.Info("not running as an ECS task (ECS_CONTAINER_METADATA_URI_V4 is not set): no task scale-in protection")
		return nil, nil
	}
	prot := ecsrun.NewProtector(c.ECS, ecsrun.ProtectionConfig{MetadataURI: uri, Logger: m.logger})
	wg.Add(1)
	go func() { defer wg.Done(); prot.Run(ctx) }()
	return prot.Busy, nil
}

// runFetch checks a job's source out inside an ECS task: the fetch
// container's program. The token comes only from GANTRY_FETCH_TOKEN.
func (m *Main) runFetch(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	url := fs.String("url", m.Getenv("GANTRY_FETCH_URL"), "clone URL of the repository (GANTRY_FETCH_URL)")
	sha := fs.String("sha", m.Getenv("GANTRY_FETCH_SHA"), "full SHA of the commit to check out (GANTRY_FETCH_SHA)")
	dir := fs.String("dir", m.Getenv("GANTRY_FETCH_DIR"), "directory to check it out into (GANTRY_FETCH_DIR)")
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: gantry fetch [-url URL] [-sha SHA] [-dir DIR]\n\nChecks a repository out at a commit; the token for https URLs comes from GANTRY_FETCH_TOKEN.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return &settingError{"fetch", err.Error()}
	}
	if fs.NArg() > 0 {
		return &settingError{"fetch", fmt.Sprintf("unexpected argument %q (the token is read from GANTRY_FETCH_TOKEN, never from the command line)", fs.Arg(0))}
	}
	for _, s := range []struct{ name, value string }{{"GANTRY_FETCH_URL", *url}, {"GANTRY_FETCH_SHA", *sha}, {"GANTRY_FETCH_DIR", *dir}} {
		if s.value == "" {
			return &settingError{s.name, "is not set (or pass -url, -sha, -dir): gantry fetch runs in the fetch container of an ECS task"}
		}
	}
	return ecsrun.Fetch(ctx, ecsrun.FetchConfig{URL: *url, SHA: *sha, Dir: *dir, Token: m.Getenv("GANTRY_FETCH_TOKEN"), Out: m.Stdout,
		Tool: m.Getenv("GANTRY_FETCH_TOOL")})
}

// runCollect reads a job's test reports and uploads its artifacts inside
// an ECS task, with the task's role, after the steps: stepScript runs it
// in the job container. What to do comes from GANTRY_COLLECT.
func (m *Main) runCollect(ctx context.Context, args []string) error {
	if len(args) > 0 {
		return &settingError{"collect", fmt.Sprintf("unexpected argument %q (gantry collect reads GANTRY_COLLECT)", args[0])}
	}
	var spec ecsrun.CollectSpec
	if err := json.Unmarshal([]byte(m.Getenv("GANTRY_COLLECT")), &spec); err != nil {
		return &settingError{"GANTRY_COLLECT", "is not set or not valid: gantry collect runs in the job container of an ECS task"}
	}
	dir, err := os.Getwd()
	if err != nil {
		return err
	}
	load := func(ctx context.Context) (aws.Config, error) { return config.LoadDefaultConfig(ctx) }
	return ecsrun.Collect(ctx, spec, dir, load, m.Stdout)
}
