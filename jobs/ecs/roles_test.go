package ecs_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/spec"
)

const (
	buildRole   = "arn:aws:iam::123456789012:role/gantry-build"
	prodRole    = "arn:aws:iam::123456789012:role/gantry-deploy-production"
	stagingRole = "arn:aws:iam::123456789012:role/gantry-deploy-staging"
)

func withRoles(c *ecs.Config) {
	c.BuildRoleARN = buildRole
	c.Environments = map[string]spec.ECSEnvironment{
		"production": {TaskRoleARN: prodRole, Cluster: "prod", Subnets: []string{"subnet-prod"}, SecurityGroups: []string{"sg-prod"}},
		"staging":    {TaskRoleARN: stagingRole},
	}
}

// Builds run with the build role on the runner's cluster, whatever they
// carry; a deploy runs with its environment's role, on its cluster and
// network where the environment has them; an environment with no entry
// deploys with no role at all.
func TestBuildNeverRunsWithDeployRole(t *testing.T) {
	f := newFixture(t, awsserver.WithClusters("ci", "prod"))
	f.scripted(func(m string) awsserver.TaskScript {
		return awsserver.TaskScript{Logs: awsserver.Lines("job", time.Millisecond, startMark(m, 1), endMark(m, 1, 0)),
			ExitCodes: map[string]int32{"fetch": 0, "job": 0}}
	})
	r := f.runner(withRoles)

	build := f.job("make")
	strayEnv := f.job("make") // a build that somehow names an environment
	strayEnv.Env = "production"
	prod := f.job("./deploy.sh")
	prod.Kind, prod.Env = jobs.Deploy, "production"
	staging := f.job("./deploy.sh")
	staging.Kind, staging.Env = jobs.Deploy, "staging"
	qa := f.job("./deploy.sh")
	qa.Kind, qa.Env = jobs.Deploy, "qa"

	cases := []struct {
		job             *jobs.Job
		role, cluster   string
		subnets, groups []string
		says            string
	}{
		{build, buildRole, "ci", []string{"subnet-1", "subnet-2"}, []string{"sg-1"}, "role gantry-build"},
		{strayEnv, buildRole, "ci", []string{"subnet-1", "subnet-2"}, []string{"sg-1"}, "role gantry-build"},
		{prod, prodRole, "prod", []string{"subnet-prod"}, []string{"sg-prod"}, "role gantry-deploy-production"},
		{staging, stagingRole, "ci", []string{"subnet-1", "subnet-2"}, []string{"sg-1"}, "role gantry-deploy-staging"},
		{qa, "", "ci", []string{"subnet-1", "subnet-2"}, []string{"sg-1"}, "no AWS role"},
	}
	for i, c := range cases {
		code, err, log := f.run(context.Background(), r, c.job)
		if err != nil || code != 0 {
			t.Fatalf("%s: code %d, err %v\n%s", c.job.What(), code, err, log)
		}
		task := f.aws.Tasks()[i]
		if task.TaskRoleARN != c.role || task.Cluster != c.cluster {
			t.Errorf("%s: task role %q on cluster %q, want %q on %q", c.job.What(), task.TaskRoleARN, task.Cluster, c.role, c.cluster)
		}
		vpc := task.Input.NetworkConfiguration.AwsvpcConfiguration
		if !cmp.Equal(vpc.Subnets, c.subnets) || !cmp.Equal(vpc.SecurityGroups, c.groups) {
			t.Errorf("%s: subnets %v, security groups %v; want %v, %v", c.job.What(), vpc.Subnets, vpc.SecurityGroups, c.subnets, c.groups)
		}
		if !strings.Contains(log, "── starting an ECS task (") || !strings.Contains(log, c.says+")") {
			t.Errorf("%s: the log does not say %q:\n%s", c.job.What(), c.says, log)
		}
		if o := task.Input.Overrides; o != nil && o.TaskRoleArn != nil {
			t.Errorf("%s: RunTask overrides the task role with %q", c.job.What(), *o.TaskRoleArn)
		}
	}
	for _, task := range f.aws.Tasks() {
		if def, _ := f.aws.TaskDefinition(task.TaskDefinitionARN); aws.ToString(def.TaskRoleArn) != task.TaskRoleARN {
			t.Errorf("definition %s has role %q, its task %q", task.TaskDefinitionARN, aws.ToString(def.TaskRoleArn), task.TaskRoleARN)
		}
	}
}

// A worker that re-attaches to a production deploy looks for its task on
// the production cluster (the cluster its ARN names), and stops it there.
func TestReattachFindsDeployOnItsCluster(t *testing.T) {
	f := newFixture(t, awsserver.WithClusters("ci", "prod"))
	f.scripted(slowTask(5, 300*time.Millisecond))
	ctx, cancel := context.WithCancelCause(context.Background())
	j := f.job("./deploy.sh")
	j.Kind, j.Env = jobs.Deploy, "production"
	f.create(j)
	go func() {
		if !eventually(10*time.Second, func() bool { return strings.Contains(logOf(f, j.ID), "line 2\n") }) {
			t.Error("line 2 never reached the log")
		}
		cancel(jobs.ErrShutdown)
	}()
	if _, err, _ := f.run(ctx, f.runner(withRoles), j); err != jobs.ErrShutdown {
		t.Fatalf("err %v, want ErrShutdown", err)
	}
	again, err := f.store.Get(context.Background(), j.ID)
	if err != nil || !strings.Contains(again.Handle, ":task/prod/") {
		t.Fatalf("handle %q (err %v), want a task of cluster prod", again.Handle, err)
	}
	// The next worker's config no longer names the cluster: the ARN decides.
	moved := f.runner(func(c *ecs.Config) {
		withRoles(c)
		c.Environments["production"] = spec.ECSEnvironment{TaskRoleARN: prodRole}
	})
	if code, err, log := f.run(context.Background(), moved, again); err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	for _, c := range f.aws.Calls("DescribeTasks", "StopTask") {
		var in awsecs.DescribeTasksInput
		if err := c.Decode(&in); err != nil || aws.ToString(in.Cluster) != "prod" {
			t.Errorf("%s on cluster %q, want prod", c.Operation, aws.ToString(in.Cluster))
		}
	}
	if n := f.aws.Count("RunTask"); n != 1 {
		t.Errorf("RunTask called %d times, want 1", n)
	}
}
