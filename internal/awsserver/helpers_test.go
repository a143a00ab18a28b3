package awsserver_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-ci/gantry/internal/awsserver"
)

const (
	logGroup  = "/gantry/jobs"
	logPrefix = "job"
)

type clients struct {
	ecs  *ecs.Client
	logs *cloudwatchlogs.Client
	cw   *cloudwatch.Client
}

func newClients(srv *awsserver.Server) clients {
	cfg := srv.AWSConfig()
	return clients{ecs: ecs.NewFromConfig(cfg), logs: cloudwatchlogs.NewFromConfig(cfg), cw: cloudwatch.NewFromConfig(cfg)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// registerJobDef registers a Fargate definition like the ECS runner's: a
// "fetch" container and a "main" container, both logging with awslogs.
func registerJobDef(t *testing.T, c clients, family string) *ecstypes.TaskDefinition {
	t.Helper()
	awslogs := func() *ecstypes.LogConfiguration {
		return &ecstypes.LogConfiguration{
			LogDriver: ecstypes.LogDriverAwslogs,
			Options: map[string]string{
				"awslogs-group":         logGroup,
				"awslogs-region":        "us-east-1",
				"awslogs-stream-prefix": logPrefix,
			},
		}
	}
	out, err := c.ecs.RegisterTaskDefinition(ctx(t), &ecs.RegisterTaskDefinitionInput{
		Family:                  aws.String(family),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		NetworkMode:             ecstypes.NetworkModeAwsvpc,
		Cpu:                     aws.String("1024"),
		Memory:                  aws.String("2048"),
		ExecutionRoleArn:        aws.String("arn:aws:iam::123456789012:role/gantry-exec"),
		TaskRoleArn:             aws.String("arn:aws:iam::123456789012:role/gantry-job"),
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("fetch"), Image: aws.String("gantry:latest"), Essential: aws.Bool(false), LogConfiguration: awslogs()},
			{
				Name: aws.String("main"), Image: aws.String("golang:1.26"), Essential: aws.Bool(true),
				Command:          []string{"sh", "-c", "go test ./..."},
				Environment:      []ecstypes.KeyValuePair{{Name: aws.String("CGO_ENABLED"), Value: aws.String("0")}},
				DependsOn:        []ecstypes.ContainerDependency{{ContainerName: aws.String("fetch"), Condition: ecstypes.ContainerConditionSuccess}},
				LogConfiguration: awslogs(),
			},
		},
		Tags: []ecstypes.Tag{{Key: aws.String("app"), Value: aws.String("gantry")}},
	})
	if err != nil {
		t.Fatalf("RegisterTaskDefinition: %v", err)
	}
	return out.TaskDefinition
}

// fargateRun is a RunTask input as the ECS runner would send it.
func fargateRun(taskDef, token string) *ecs.RunTaskInput {
	in := &ecs.RunTaskInput{
		Cluster:        aws.String("ci"),
		TaskDefinition: aws.String(taskDef),
		LaunchType:     ecstypes.LaunchTypeFargate,
		StartedBy:      aws.String("gantry/42"),
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{
			Subnets:        []string{"subnet-1"},
			SecurityGroups: []string{"sg-1"},
			AssignPublicIp: ecstypes.AssignPublicIpDisabled,
		}},
		Overrides: &ecstypes.TaskOverride{ContainerOverrides: []ecstypes.ContainerOverride{{
			Name:        aws.String("main"),
			Environment: []ecstypes.KeyValuePair{{Name: aws.String("GANTRY_JOB"), Value: aws.String("42")}},
		}}},
		Tags: []ecstypes.Tag{{Key: aws.String("gantry-job"), Value: aws.String("42")}},
	}
	if token != "" {
		in.ClientToken = aws.String(token)
	}
	return in
}

func runOne(t *testing.T, c clients, in *ecs.RunTaskInput) ecstypes.Task {
	t.Helper()
	out, err := c.ecs.RunTask(ctx(t), in)
	if err != nil {
		t.Fatalf("RunTask: %v", err)
	}
	if len(out.Tasks) != 1 || len(out.Failures) != 0 {
		t.Fatalf("RunTask: %d tasks, failures %+v; want 1 task", len(out.Tasks), out.Failures)
	}
	return out.Tasks[0]
}

func describe(t *testing.T, c clients, arn string) ecstypes.Task {
	t.Helper()
	out, err := c.ecs.DescribeTasks(ctx(t), &ecs.DescribeTasksInput{Cluster: aws.String("ci"), Tasks: []string{arn}})
	if err != nil {
		t.Fatalf("DescribeTasks: %v", err)
	}
	if len(out.Tasks) != 1 {
		t.Fatalf("DescribeTasks(%s): %d tasks, failures %+v", arn, len(out.Tasks), out.Failures)
	}
	return out.Tasks[0]
}

func containerOf(t *testing.T, task ecstypes.Task, name string) ecstypes.Container {
	t.Helper()
	for _, c := range task.Containers {
		if aws.ToString(c.Name) == name {
			return c
		}
	}
	t.Fatalf("task %s has no container %q", aws.ToString(task.TaskArn), name)
	return ecstypes.Container{}
}

// wantAPIError checks that err is (or wraps) a service error with code.
func wantAPIError(t *testing.T, err error, code string) smithy.APIError {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a service error; want %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	return ae
}
