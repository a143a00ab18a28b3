package ecs_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

const (
	apiTokenValue = "sm-value-9f8e7d6c5b4a"
	npmTokenValue = "ssm-value-1a2b3c4d5e6f"
)

// secretsFixture is a fixture whose fake AWS holds a Secrets Manager
// secret (granted to every job of the repo) and a SecureString parameter
// (granted to deploys to production only), as spec.Server.SecretsFor
// would hand them out.
type secretsFixture struct {
	*fixture
	apiARN, npmARN string
}

func newSecretsFixture(t *testing.T) *secretsFixture {
	f := &secretsFixture{fixture: newFixture(t)}
	f.apiARN = f.aws.PutSecret("gantry/api-token", apiTokenValue)
	f.npmARN = f.aws.PutParameter("/gantry/npm-token", npmTokenValue, true)
	return f
}

func (f *secretsFixture) secretsOf(j *jobs.Job) []spec.Secret {
	out := []spec.Secret{{Name: "API_TOKEN", Source: f.apiARN}}
	if j.Kind == jobs.Deploy && j.Env == "production" {
		out = append(out, spec.Secret{Name: "NPM_TOKEN", Source: f.npmARN})
	}
	return out
}

// recorder is a redaction callback that notes what it was told, and
// whether any task had been started by then.
type recorder struct {
	srv  *awsserver.Server
	next func(values ...string) // the redactor's Add

	mu         sync.Mutex
	values     []string
	afterStart bool
}

func (r *recorder) add(values ...string) {
	started := r.srv.Count("RunTask") > 0
	r.mu.Lock()
	defer r.mu.Unlock()
	r.values = append(r.values, values...)
	r.afterStart = r.afterStart || started
	if r.next != nil {
		r.next(values...)
	}
}

func (r *recorder) told() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.values)
}

// A job's secrets reach its task only as ARNs in the job container's
// `secrets`: ECS's execution role fetches the values, and no request that
// gantry makes to start a task carries them. Secrets are part of the
// definition's hash, so a job with other secrets gets another definition.
func TestSecretsBecomeContainerSecrets(t *testing.T) {
	f := newSecretsFixture(t)
	f.runLocally()
	r := f.runner(func(c *ecs.Config) { c.Secrets = f.secretsOf })

	build := f.job(`echo "API_TOKEN has ${#API_TOKEN} characters"`)
	if code, err, log := f.run(context.Background(), r, build); err != nil || code != 0 {
		t.Fatalf("build: code %d, err %v\n%s", code, err, log)
	}
	deploy := f.job(`echo "API_TOKEN has ${#API_TOKEN}, NPM_TOKEN ${#NPM_TOKEN} characters"`)
	deploy.Kind, deploy.Env = jobs.Deploy, "production"
	deploy.Plan.Env["NPM_TOKEN"] = "from .gantry.yml"
	code, err, deployLog := f.run(context.Background(), r, deploy)
	if err != nil || code != 0 {
		t.Fatalf("deploy: code %d, err %v\n%s", code, err, deployLog)
	}

	// The containers saw the values ECS resolved (their lengths prove it
	// without printing them).
	assertInOrder(t, f.logText(build.ID), "secrets API_TOKEN)", fmt.Sprintf("API_TOKEN has %d characters", len(apiTokenValue)))
	assertInOrder(t, deployLog, "── NPM_TOKEN is a secret the server config gives this job; the env of that name in .gantry.yml is not used",
		"secrets API_TOKEN, NPM_TOKEN)",
		fmt.Sprintf("API_TOKEN has %d, NPM_TOKEN %d characters", len(apiTokenValue), len(npmTokenValue)))

	tasks := f.aws.Tasks()
	if len(tasks) != 2 {
		t.Fatalf("%d tasks, want 2", len(tasks))
	}
	want := []map[string]string{
		{"API_TOKEN": f.apiARN},
		{"API_TOKEN": f.apiARN, "NPM_TOKEN": f.npmARN},
	}
	for i, task := range tasks {
		for _, c := range task.Containers {
			switch {
			case c.Name == "job" && !maps.Equal(c.Secrets, want[i]):
				t.Errorf("task %d: job container secrets %v, want %v", i+1, c.Secrets, want[i])
			case c.Name != "job" && len(c.Secrets) > 0:
				t.Errorf("task %d: container %s has secrets %v, want none", i+1, c.Name, c.Secrets)
			}
		}
		def, ok := f.aws.TaskDefinition(task.TaskDefinitionARN)
		if !ok {
			t.Fatalf("no definition %s", task.TaskDefinitionARN)
		}
		for _, c := range def.ContainerDefinitions {
			if aws.ToString(c.Name) != "job" {
				continue
			}
			got := map[string]string{}
			for _, s := range c.Secrets {
				got[aws.ToString(s.Name)] = aws.ToString(s.ValueFrom)
			}
			if !maps.Equal(got, want[i]) {
				t.Errorf("definition %s: job secrets %v, want %v", task.TaskDefinitionARN, got, want[i])
			}
		}
	}
	if tasks[0].TaskDefinitionARN == tasks[1].TaskDefinitionARN {
		t.Error("jobs with different secrets share one task definition")
	}
	for _, c := range f.aws.Calls("RunTask", "RegisterTaskDefinition", "DescribeTaskDefinition") {
		for _, v := range []string{apiTokenValue, npmTokenValue} {
			if strings.Contains(string(c.JSON), v) {
				t.Errorf("a %s request carries a secret value:\n%s", c.Operation, c.JSON)
			}
		}
	}
	if strings.Contains(deployLog, "from .gantry.yml") {
		t.Error("the .gantry.yml env of a secret's name reached the task")
	}
}

// ECS secrets are read with gantry's own role and handed to the redactor
// before the job's task starts, so the lines the job prints are redacted;
// the values reach nothing else gantry keeps (the job record, events, log)
// and are read again only once the cache goes stale.
func TestECSSecretValuesAreRedacted(t *testing.T) {
	f := newSecretsFixture(t)
	jsonARN := f.aws.PutSecret("gantry/db", `{"user":"deployer","password":"hunter2-but-longer"}`)
	f.runLocally()
	rec := &recorder{srv: f.aws, next: f.redactor.Add}
	now := time.Now()
	var clock sync.Mutex
	reader := ecs.NewSecretReader(f.cli.SecretsManager, f.cli.SSM, ecs.SecretReaderConfig{
		Redact: rec.add,
		Now:    func() time.Time { clock.Lock(); defer clock.Unlock(); return now },
	})
	secrets := func(j *jobs.Job) []spec.Secret {
		return append(f.secretsOf(j), spec.Secret{Name: "DB", Source: jsonARN})
	}
	r := f.runner(func(c *ecs.Config) { c.Secrets = secrets; c.Redaction = reader })

	// The step prints every value, plainly, in base64 and as the one
	// field of the JSON secret.
	deploy := f.job(`echo "api=$API_TOKEN npm=$NPM_TOKEN"; printf %s "$NPM_TOKEN" | base64; echo "$DB" | sed 's/.*"password":"\([^"]*\)".*/password \1/'`)
	deploy.Kind, deploy.Env = jobs.Deploy, "production"
	code, err, log := f.run(context.Background(), r, deploy)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	assertInOrder(t, log, "api="+jobs.Redacted+" npm="+jobs.Redacted, jobs.Redacted, "password "+jobs.Redacted)
	told := rec.told()
	for _, v := range []string{apiTokenValue, npmTokenValue, "hunter2-but-longer"} {
		if !slices.Contains(told, v) {
			t.Errorf("the redactor was not told %q; told %q", v, told)
		}
	}
	if rec.afterStart {
		t.Error("the redactor learnt the values only after the task started")
	}
	var param ssm.GetParameterInput
	if calls := f.aws.Calls("GetParameter"); len(calls) != 1 || calls[0].Decode(&param) != nil || !aws.ToBool(param.WithDecryption) {
		t.Errorf("GetParameter calls %+v: want one, WithDecryption", calls)
	}

	// Cached: a second job reads nothing and tells nothing new.
	if _, err, _ := f.run(context.Background(), r, f.job("true")); err != nil {
		t.Fatal(err)
	}
	if n := f.aws.Count("GetSecretValue"); n != 2 {
		t.Errorf("GetSecretValue called %d times for two secrets read once, want 2", n)
	}
	if n := len(rec.told()); n != len(told) {
		t.Errorf("the redactor was told %d values, then %d: values it knew came again", len(told), n)
	}
	// Stale: a rotated value is read and learnt.
	f.aws.PutSecret("gantry/api-token", "sm-rotated-0a0b0c0d")
	clock.Lock()
	now = now.Add(ecs.DefaultSecretTTL + time.Second)
	clock.Unlock()
	if _, err, _ := f.run(context.Background(), r, f.job("true")); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(rec.told(), "sm-rotated-0a0b0c0d") {
		t.Error("the rotated value was not learnt after the cache went stale")
	}

	f.assertNoSecretInRedis(apiTokenValue, npmTokenValue, "hunter2-but-longer", "sm-rotated-0a0b0c0d",
		base64.StdEncoding.EncodeToString([]byte(npmTokenValue)))
}

// A secret gantry may not read cannot be redacted: its job does not start.
func TestSecretGantryCannotReadStopsTheJob(t *testing.T) {
	f := newSecretsFixture(t)
	f.aws.FailNext("GetSecretValue", 1, awsserver.Fault{Code: "AccessDeniedException", Message: "not authorized to perform secretsmanager:GetSecretValue"})
	reader := ecs.NewSecretReader(f.cli.SecretsManager, f.cli.SSM, ecs.SecretReaderConfig{})
	r := f.runner(func(c *ecs.Config) { c.Secrets = f.secretsOf; c.Redaction = reader })
	_, err, _ := f.run(context.Background(), r, f.job("true"))
	if err == nil || !strings.Contains(err.Error(), "gantry cannot read secret API_TOKEN") || !strings.Contains(err.Error(), "not authorized") {
		t.Fatalf("err %v, want one naming the secret and the denial", err)
	}
	if !errors.Is(err, jobs.ErrPermanent) {
		t.Error("a denied secret is retried; it will not mend by itself")
	}
	if n := f.aws.Count("RunTask"); n != 0 {
		t.Errorf("RunTask called %d times, want none", n)
	}

	file := f.runner(func(c *ecs.Config) {
		c.Secrets = func(*jobs.Job) []spec.Secret { return []spec.Secret{{Name: "KEY", Source: "file:/etc/key"}} }
	})
	if _, err, _ := f.run(context.Background(), file, f.job("true")); err == nil || !strings.Contains(err.Error(), "secret KEY") {
		t.Errorf("file: secret: err %v, want one naming it", err)
	}
}

// assertNoSecretInRedis looks through every key gantry wrote (job records,
// events, logs, queues) for the values.
func (f *fixture) assertNoSecretInRedis(values ...string) {
	f.t.Helper()
	ctx := context.Background()
	rdb := f.redis.Client()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		f.t.Fatal(err)
	}
	for _, k := range keys {
		var text string
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			text = rdb.Get(ctx, k).Val()
		case "hash":
			text = fmt.Sprint(rdb.HGetAll(ctx, k).Val())
		case "list":
			text = fmt.Sprint(rdb.LRange(ctx, k, 0, -1).Val())
		case "set":
			text = fmt.Sprint(rdb.SMembers(ctx, k).Val())
		case "zset":
			text = fmt.Sprint(rdb.ZRange(ctx, k, 0, -1).Val())
		case "stream":
			text = fmt.Sprint(rdb.XRange(ctx, k, "-", "+").Val())
		}
		for _, v := range values {
			if strings.Contains(text, v) {
				f.t.Errorf("Redis key %s holds the secret value %q", k, v)
			}
		}
	}
}
