package ecs

import (
	"cmp"
	"strings"

	"github.com/gantry-ci/gantry/jobs"
)

// placement is where a job's task runs and with what AWS credentials.
type placement struct {
	role           string // the task role; "" is none
	cluster        string
	subnets        []string
	securityGroups []string
}

// placement decides the task role, cluster and network of a job. A deploy
// gets its environment's deploy role, and its cluster and network where
// the environment sets them; every other job is a build, which gets the
// build role on the runner's cluster. Nothing a build carries (its repo,
// ref or plan) can select a deploy role: only Kind and Env, which gantry
// sets from the command, decide.
func (r *Runner) placement(j *jobs.Job) placement {
	p := placement{role: r.cfg.BuildRoleARN, cluster: r.cfg.Cluster, subnets: r.cfg.Subnets, securityGroups: r.cfg.SecurityGroups}
	if j.Kind != jobs.Deploy {
		return p
	}
	env := r.cfg.Environments[j.Env] // not listed: no role, the runner's cluster
	p.role = env.TaskRoleARN
	p.cluster = cmp.Or(env.Cluster, r.cfg.Cluster)
	if len(env.Subnets) > 0 {
		p.subnets = env.Subnets
	}
	if len(env.SecurityGroups) > 0 {
		p.securityGroups = env.SecurityGroups
	}
	return p
}

// taskCluster is the cluster of a task the job started: the one its ARN
// names (arn:aws:ecs:REGION:ACCOUNT:task/CLUSTER/ID), so a worker that
// re-attaches looks where the task really is even if the config changed
// since; for an ARN of the old format (task/ID) it is the job's placement.
func (r *Runner) taskCluster(j *jobs.Job, arn string) string {
	_, res, ok := strings.Cut(arn, ":task/")
	if ok {
		if cluster, _, ok := strings.Cut(res, "/"); ok && cluster != "" {
			return cluster
		}
	}
	return r.placement(j).cluster
}

// roleName is the last part of a role ARN, for log lines.
func roleName(arn string) string {
	if arn == "" {
		return "no AWS role"
	}
	return "role " + arn[strings.LastIndex(arn, "/")+1:]
}
