package ecs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsecs "github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// maxOverrides is what ECS accepts in a RunTask's overrides, in characters
// of JSON.
const maxOverrides = 8192

// clientToken makes RunTask idempotent per run of a job: a retried call,
// or a worker that runs the job again before the ARN was recorded, gets
// the task already started. The creation time tells apart jobs of two
// gantry installations that share an account.
func clientToken(j *jobs.Job) string {
	return fmt.Sprintf("gantry-%d-%d-%d", j.ID, j.Attempt, j.Created.UnixMilli())
}

// runTaskInput is the RunTask request for the job.
func (r *Runner) runTaskInput(x *jobs.Execution, def definition, ts taskSpec) (*awsecs.RunTaskInput, error) {
	j := x.Job
	jobEnv := x.StepEnv()
	maps.Copy(jobEnv, stepVars(j))
	for _, sec := range ts.secrets {
		// The server config's secret wins over .gantry.yml's env of the
		// same name; ECS would not say which of the two a step sees.
		if _, ok := jobEnv[sec.Name]; ok {
			delete(jobEnv, sec.Name)
			x.Log.Line(fmt.Sprintf("── %s is a secret the server config gives this job; the env of that name in .gantry.yml is not used", sec.Name))
		}
	}
	if cs := r.collectSpec(j); cs != nil {
		b, err := json.Marshal(cs)
		if err != nil {
			return nil, fmt.Errorf("encode what job %s collects: %w", j.Name(), err)
		}
		jobEnv[collectVar] = string(b)
		if r.cfg.Artifacts.Bucket == "" && len(j.Plan.Artifacts) > 0 {
			x.Log.Line("── " + noBucket)
		}
	}
	fetchEnv := map[string]string{"GANTRY_FETCH_URL": j.CloneURL, "GANTRY_FETCH_SHA": j.SHA, "GANTRY_JOB": strconv.FormatInt(j.ID, 10)}
	if r.cfg.FetchTokenARN == "" && r.cfg.FetchToken != "" {
		fetchEnv["GANTRY_FETCH_TOKEN"] = r.cfg.FetchToken
	}
	overrides := &types.TaskOverride{ContainerOverrides: []types.ContainerOverride{
		{Name: aws.String(containerFetch), Environment: pairs(fetchEnv)},
		{Name: aws.String(containerJob), Environment: pairs(jobEnv)},
	}}
	if n := overridesSize(overrides); n > maxOverrides {
		return nil, jobs.Permanent(jobs.Userf("the steps and env of %s come to %d characters; ECS takes at most %d in a task's overrides. Move long scripts into files in the repository and run those", j.Name(), n, maxOverrides))
	}
	ip := types.AssignPublicIpDisabled
	if r.cfg.AssignPublicIP {
		ip = types.AssignPublicIpEnabled
	}
	in := &awsecs.RunTaskInput{
		Cluster:        aws.String(ts.place.cluster),
		TaskDefinition: aws.String(def.arn),
		Count:          aws.Int32(1),
		StartedBy:      aws.String(StartedBy),
		ClientToken:    aws.String(clientToken(j)),
		NetworkConfiguration: &types.NetworkConfiguration{AwsvpcConfiguration: &types.AwsVpcConfiguration{
			Subnets: ts.place.subnets, SecurityGroups: ts.place.securityGroups, AssignPublicIp: ip,
		}},
		Overrides: overrides,
		Tags: []types.Tag{
			{Key: aws.String("gantry:job"), Value: aws.String(strconv.FormatInt(j.ID, 10))},
			{Key: aws.String("gantry:attempt"), Value: aws.String(strconv.Itoa(j.Attempt))},
			{Key: aws.String("gantry:repo"), Value: aws.String(tagValue(j.Repo))},
			{Key: aws.String("gantry:kind"), Value: aws.String(tagValue(j.What()))},
		},
	}
	if r.cfg.LaunchType != "" {
		in.LaunchType = types.LaunchType(r.cfg.LaunchType)
	} else {
		in.CapacityProviderStrategy = []types.CapacityProviderStrategyItem{{CapacityProvider: aws.String(r.cfg.CapacityProvider), Weight: 1}}
	}
	return in, nil
}

// overridesSize is the length of the overrides as they go on the wire.
func overridesSize(o *types.TaskOverride) int {
	type pair struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type container struct {
		Name        string `json:"name"`
		Environment []pair `json:"environment"`
	}
	var wire struct {
		ContainerOverrides []container `json:"containerOverrides"`
	}
	for _, c := range o.ContainerOverrides {
		wc := container{Name: aws.ToString(c.Name)}
		for _, kv := range c.Environment {
			wc.Environment = append(wc.Environment, pair{aws.ToString(kv.Name), aws.ToString(kv.Value)})
		}
		wire.ContainerOverrides = append(wire.ContainerOverrides, wc)
	}
	b, _ := json.Marshal(wire)
	return len(b)
}

func pairs(env map[string]string) []types.KeyValuePair {
	out := make([]types.KeyValuePair, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, kv(k, env[k]))
	}
	return out
}

var tagUnsafe = regexp.MustCompile(`[^\p{L}\p{N} _.:/=+\-@]`)

// tagValue makes s a valid tag value: ECS's characters only, 256 at most.
func tagValue(s string) string {
	s = tagUnsafe.ReplaceAllString(s, "_")
	if r := []rune(s); len(r) > 256 {
		s = string(r[:256])
	}
	return s
}

// start runs the task. ECS's capacity failures are tried again with
// backoff; a definition that went away is registered again; throttling
// and 5xx are retried by the SDK's retryer.
func (r *Runner) start(ctx context.Context, x *jobs.Execution, in *awsecs.RunTaskInput, ts taskSpec) (string, error) {
	wait := r.cfg.PlaceBackoff
	reregistered := false
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return "", context.Cause(ctx) // nothing was sent: there is no task to stop
		}
		out, err := r.ecs.RunTask(ctx, in)
		if err != nil {
			if ctx.Err() != nil {
				return "", r.abortStart(ctx, in, err)
			}
			if isCode(err, "ClientException") && strings.Contains(strings.ToLower(apiMessage(err)), "taskdefinition") && !reregistered {
				if in.TaskDefinition, err = r.refreshDefinition(ctx, ts, aws.ToString(in.TaskDefinition)); err != nil {
					return "", err
				}
				reregistered = true
				continue
			}
			if isCode(err, "ClientException") {
				return "", jobs.Permanent(&jobs.UserError{Msg: say.F("ECS refused to run the task: %s", apiMessage(err)), Err: err})
			}
			return "", apiError("RunTask", err)
		}
		if len(out.Tasks) > 0 {
			return aws.ToString(out.Tasks[0].TaskArn), nil
		}
		why := failures(out.Failures)
		if missingDefinition(out.Failures) && !reregistered {
			if in.TaskDefinition, err = r.refreshDefinition(ctx, ts, aws.ToString(in.TaskDefinition)); err != nil {
				return "", err
			}
			reregistered = true
			continue
		}
		if attempt >= r.cfg.PlaceAttempts {
			return "", &jobs.UserError{Msg: say.F("ECS could not place the task after %d tries: %s", attempt, why)}
		}
		x.Log.Line(fmt.Sprintf("── ECS could not place the task (%s); trying again in %s", why, wait))
		r.log.Warn("RunTask failures", "job", x.Job.ID, "failures", why, "attempt", attempt)
		if !sleep(ctx, wait) {
			return "", context.Cause(ctx)
		}
		wait *= 2
	}
}

// abortStart handles a RunTask cut short by the job's context. ECS may
// have started the task all the same. On a cancel, the same request (same
// client token) is made again so as to learn of that task and stop it.
// On a shutdown nothing is done: the next worker repeats the request with
// the same token and gets the task if there is one.
func (r *Runner) abortStart(ctx context.Context, in *awsecs.RunTaskInput, err error) error {
	cause := context.Cause(ctx)
	var cancel *jobs.CancelError
	if !errors.As(cause, &cancel) {
		return cause
	}
	bg, done := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer done()
	out, rerr := r.ecs.RunTask(bg, in)
	if rerr == nil && len(out.Tasks) > 0 {
		r.stop(bg, aws.ToString(in.Cluster), aws.ToString(out.Tasks[0].TaskArn), cancel.Error())
	}
	return cause
}

// refreshDefinition registers the job's definition again after ECS said
// the one in the cache is gone (deregistered).
func (r *Runner) refreshDefinition(ctx context.Context, ts taskSpec, stale string) (*string, error) {
	r.forget(stale)
	def, err := r.definition(ctx, ts)
	if err != nil {
		return nil, err
	}
	if def.arn == stale {
		return nil, jobs.Permanent(jobs.Userf("ECS does not know the task definition %s, which it reports as active", shortDef(stale)))
	}
	return aws.String(def.arn), nil
}

func failures(fs []types.Failure) string {
	if len(fs) == 0 {
		return "no task and no reason"
	}
	var parts []string
	for _, f := range fs {
		s := aws.ToString(f.Reason)
		if d := aws.ToString(f.Detail); d != "" {
			s += " (" + d + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func missingDefinition(fs []types.Failure) bool {
	for _, f := range fs {
		if aws.ToString(f.Reason) == "MISSING" && strings.Contains(aws.ToString(f.Arn), ":task-definition/") {
			return true
		}
	}
	return false
}

// stopReason fits a reason into StopTask's 255 characters.
func stopReason(s string) string {
	s = "gantry: " + s
	if len(s) > 255 {
		s = s[:252] + "..."
	}
	return s
}

// stop asks ECS to stop the task of the cluster; a failure is logged (the
// task may already be gone).
func (r *Runner) stop(ctx context.Context, cluster, arn, reason string) error {
	_, err := r.ecs.StopTask(ctx, &awsecs.StopTaskInput{
		Cluster: aws.String(cluster), Task: aws.String(arn), Reason: aws.String(stopReason(reason)),
	})
	if err != nil {
		r.log.Error("stop ECS task", "task", arn, "err", err)
		return apiError("StopTask", err)
	}
	return nil
}

// sleep waits d or until ctx ends, and reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
