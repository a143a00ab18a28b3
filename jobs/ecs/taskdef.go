package ecs

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/say"
)

// The layout of gantry's tasks.
const (
	containerFetch = "fetch" // gantry's own image: `gantry fetch`
	containerJob   = "job"   // the plan's image: the steps
	volumeName     = "workspace"
	workspacePath  = "/workspace"
	sourcePath     = "/workspace/src" // the work tree, and the steps' working directory
	// definitionLayout is part of every definition's hash: change it when
	// the layout changes, so old families are not reused.
	definitionLayout = "gantry-taskdef-2"
	// tagDefinition carries the whole hash, to tell a family that shares
	// the short hash apart.
	tagDefinition = "gantry:definition"
)

// definition is a registered task definition.
type definition struct {
	arn   string
	image string
}

// taskSpec is what a job's task is made of: its plan, where and with
// which role it runs, and the secrets its job container gets.
type taskSpec struct {
	plan    spec.Plan
	place   placement
	secrets []spec.Secret // ARNs only, sorted by name
}

// definition returns the task definition for the job, registering it the
// first time: one family per distinct definition, named from its hash, so
// every later job with the same image, services, size, roles and secrets
// (in this process or another) reuses it, and a job with another role or
// other secrets never does.
func (r *Runner) definition(ctx context.Context, ts taskSpec) (definition, error) {
	in := r.definitionInput(ts)
	sum, err := hashDefinition(in)
	if err != nil {
		return definition{}, err
	}
	image := cmp.Or(ts.plan.Image, r.cfg.DefaultImage)
	family := "gantry-" + sum[:12]

	r.defMu.Lock()
	defer r.defMu.Unlock()
	if arn := r.defs[sum]; arn != "" {
		return definition{arn: arn, image: image}, nil
	}
	out, err := r.ecs.DescribeTaskDefinition(ctx, &awsecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(family), Include: []types.TaskDefinitionField{types.TaskDefinitionFieldTags},
	})
	switch {
	case err == nil && out.TaskDefinition != nil && out.TaskDefinition.Status == types.TaskDefinitionStatusActive && hasTag(out.Tags, tagDefinition, sum):
		arn := aws.ToString(out.TaskDefinition.TaskDefinitionArn)
		r.defs[sum] = arn
		return definition{arn: arn, image: image}, nil
	case err != nil && !isCode(err, "ClientException"):
		// ClientException is "no such family": anything else is trouble.
		return definition{}, apiError("DescribeTaskDefinition", err)
	}
	in.Family = aws.String(family)
	in.Tags = []types.Tag{{Key: aws.String(tagDefinition), Value: aws.String(sum)}, {Key: aws.String("gantry:managed"), Value: aws.String("true")}}
	reg, err := r.ecs.RegisterTaskDefinition(ctx, in)
	if err != nil {
		if isCode(err, "ClientException", "InvalidParameterException") {
			return definition{}, jobs.Permanent(&jobs.UserError{
				Msg: say.F("ECS refused the task definition for image %s: %s", image, apiMessage(err)), Err: err})
		}
		return definition{}, apiError("RegisterTaskDefinition", err)
	}
	arn := aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	r.log.Info("registered task definition", "arn", arn, "image", image)
	r.defs[sum] = arn
	return definition{arn: arn, image: image}, nil
}

// forget drops a definition from the cache (it was deregistered).
func (r *Runner) forget(arn string) {
	r.defMu.Lock()
	defer r.defMu.Unlock()
	for k, v := range r.defs {
		if v == arn {
			delete(r.defs, k)
		}
	}
}

func hashDefinition(in *awsecs.RegisterTaskDefinitionInput) (string, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("encode task definition: %w", err)
	}
	h := sha256.New()
	h.Write([]byte(definitionLayout))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func hasTag(tags []types.Tag, key, value string) bool {
	for _, t := range tags {
		if aws.ToString(t.Key) == key && aws.ToString(t.Value) == value {
			return true
		}
	}
	return false
}

// definitionInput is the definition for a job, without family and tags:
// everything in it goes into the hash.
func (r *Runner) definitionInput(ts taskSpec) *awsecs.RegisterTaskDefinitionInput {
	plan := ts.plan
	logs := func() *types.LogConfiguration {
		return &types.LogConfiguration{LogDriver: types.LogDriverAwslogs, Options: map[string]string{
			"awslogs-group": r.cfg.LogGroup, "awslogs-region": r.cfg.Region, "awslogs-stream-prefix": r.cfg.LogStreamPrefix,
		}}
	}
	mounts := func() []types.MountPoint {
		return []types.MountPoint{{SourceVolume: aws.String(volumeName), ContainerPath: aws.String(workspacePath), ReadOnly: aws.Bool(false)}}
	}
	fetch := types.ContainerDefinition{
		Name: aws.String(containerFetch), Image: aws.String(r.cfg.FetchImage), Essential: aws.Bool(false),
		EntryPoint: []string{"gantry", "fetch"}, User: aws.String("0"),
		Environment:      []types.KeyValuePair{kv("GANTRY_FETCH_DIR", sourcePath), kv("GANTRY_FETCH_TOOL", toolPath)},
		MountPoints:      mounts(),
		LogConfiguration: logs(),
	}
	if r.cfg.FetchTokenARN != "" {
		fetch.Secrets = []types.Secret{{Name: aws.String("GANTRY_FETCH_TOKEN"), ValueFrom: aws.String(r.cfg.FetchTokenARN)}}
	}
	job := types.ContainerDefinition{
		Name: aws.String(containerJob), Image: aws.String(cmp.Or(plan.Image, r.cfg.DefaultImage)), Essential: aws.Bool(true),
		EntryPoint:       []string{"sh", "-c", stepScript},
		WorkingDirectory: aws.String(sourcePath),
		DependsOn:        []types.ContainerDependency{{ContainerName: aws.String(containerFetch), Condition: types.ContainerConditionSuccess}},
		MountPoints:      mounts(),
		LogConfiguration: logs(),
	}
	for _, sec := range ts.secrets {
		job.Secrets = append(job.Secrets, types.Secret{Name: aws.String(sec.Name), ValueFrom: aws.String(sec.Source)})
	}
	var names []string
	var services []types.ContainerDefinition
	for _, s := range plan.Services {
		names = append(names, s.Name)
		job.Environment = append(job.Environment, kv(serviceVar(s.Name), "localhost"))
		job.DependsOn = append(job.DependsOn, types.ContainerDependency{ContainerName: aws.String(s.Name), Condition: types.ContainerConditionStart})
		services = append(services, types.ContainerDefinition{
			Name: aws.String(s.Name), Image: aws.String(s.Image), Essential: aws.Bool(false), LogConfiguration: logs(),
		})
	}
	job.Environment = append(job.Environment, kv("GANTRY_SERVICES", strings.Join(names, " ")), kv("GANTRY_HOSTS_FILE", "/etc/hosts"),
		kv("GANTRY_TOOL", toolPath))
	in := &awsecs.RegisterTaskDefinitionInput{
		NetworkMode:          types.NetworkModeAwsvpc,
		Cpu:                  aws.String(r.cfg.CPU),
		Memory:               aws.String(r.cfg.Memory),
		Volumes:              []types.Volume{{Name: aws.String(volumeName)}},
		ContainerDefinitions: append([]types.ContainerDefinition{fetch, job}, services...),
	}
	if fargate(r.cfg) {
		in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityFargate}
	} else {
		in.RequiresCompatibilities = []types.Compatibility{types.CompatibilityEc2}
	}
	if r.cfg.ExecutionRoleARN != "" {
		in.ExecutionRoleArn = aws.String(r.cfg.ExecutionRoleARN)
	}
	if ts.place.role != "" {
		in.TaskRoleArn = aws.String(ts.place.role)
	}
	return in
}

// serviceVar is the variable that holds a service's address:
// GANTRY_SERVICE_REDIS for redis, GANTRY_SERVICE_MY_DB for my-db.
func serviceVar(name string) string {
	return "GANTRY_SERVICE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func kv(k, v string) types.KeyValuePair {
	return types.KeyValuePair{Name: aws.String(k), Value: aws.String(v)}
}

// isCode reports whether err is an AWS API error with one of the codes.
func isCode(err error, codes ...string) bool {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.ErrorCode() == c {
			return true
		}
	}
	return false
}

func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return cmp.Or(ae.ErrorMessage(), ae.ErrorCode())
	}
	return err.Error()
}

// apiError wraps an error of an AWS call for the worker: a refusal that
// retrying cannot mend (access denied, a cluster that does not exist) is
// permanent; throttling and outages are retried.
func apiError(op string, err error) error {
	msg := say.F("ECS %s failed: %s", op, apiMessage(err))
	switch {
	case isCode(err, "ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"):
		msg = say.F("ECS is throttling gantry's %s calls; it will try again", op)
	case isCode(err, "AccessDeniedException", "AccessDenied", "ClusterNotFoundException", "UnauthorizedOperation", "InvalidParameterException"):
		return jobs.Permanent(&jobs.UserError{Msg: msg, Err: err})
	}
	return &jobs.UserError{Msg: msg, Err: err}
}
