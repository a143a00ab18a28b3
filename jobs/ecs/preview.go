package ecs

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// PreviewConfig turns on previews on the ECS runner: the task of a build
// whose plan has preview: goes on after its steps as the preview's app
// (the step script execs the preview's run with PORT set to its port),
// and gantry proxies /preview/N/ to the task's private IP and that port,
// so gantry's web server must reach the task's subnet and security group
// on it. Stopping the preview stops the task.
type PreviewConfig struct {
	Max int           // previews running at once, all runners together; 0 is 5
	TTL time.Duration // when the plan sets no ttl; 0 is 4h
	// URL is the address announced for job N's preview; nil: /preview/N/.
	URL func(job int64) string
	Now func() time.Time
}

// keepPreview records the task as job's preview once its steps succeeded,
// and returns without stopping it. Without previews, or with as many
// running as previews.max allows, it stops the task: the build succeeded
// either way.
func (f *follower) keepPreview(ctx context.Context, t types.Task) (int, error) {
	j, cfg := f.x.Job, f.r.cfg.Previews
	f.endStep(ctx, 0, t)
	if err := f.save(ctx); err != nil {
		f.r.log.Error("record log cursor", "job", j.ID, "err", err)
	}
	refuse := func(text say.Text) (int, error) {
		_ = f.x.Note(ctx, text)
		_ = f.r.stop(ctx, f.cluster, f.arn, "no preview for job "+j.Name())
		return 0, nil
	}
	if cfg == nil || j.Plan.Preview == nil {
		return refuse(say.F("no preview: this gantry keeps none (set previews: in the server config)"))
	}
	ip := privateIP(t)
	if ip == "" {
		return refuse(say.F("no preview: the task has no private IP (previews need awsvpc networking)"))
	}
	max, ttl, now := cfg.Max, j.Plan.Preview.TTL, time.Now
	if max <= 0 {
		max = 5
	}
	if ttl <= 0 {
		ttl = cfg.TTL
	}
	if ttl <= 0 {
		ttl = 4 * time.Hour
	}
	if cfg.Now != nil {
		now = cfg.Now
	}
	rec := rdb.Preview{Job: j.ID, Runner: "ecs", Addr: net.JoinHostPort(ip, strconv.Itoa(j.Plan.Preview.Port)), Handle: f.arn,
		Repo: j.Repo, PR: j.PR, By: j.Requester, Expires: now().Add(ttl)}
	ok, err := f.x.Store().Previews().Open(ctx, rec, max)
	if err != nil {
		_ = f.r.stop(ctx, f.cluster, f.arn, "no preview for job "+j.Name())
		return 0, err
	}
	if !ok {
		return refuse(say.F("no preview: %d previews already run, the most gantry keeps at once (previews.max); `stop #N` one of them (see `envs`)", max))
	}
	url := fmt.Sprintf("/preview/%d/", j.ID)
	if cfg.URL != nil {
		url = cfg.URL(j.ID)
	}
	f.x.Log.Line("── preview: ECS task " + taskID(f.arn) + " goes on serving at " + rec.Addr)
	_ = f.x.Note(ctx, say.F("preview running until %s: %s (`stop #%d` ends it)", rec.Expires.UTC().Format("15:04 UTC"), url, j.ID))
	return 0, nil
}

// privateIP is the task's private IPv4 address from its ENI attachment.
func privateIP(t types.Task) string {
	for _, a := range t.Attachments {
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "privateIPv4Address" {
				return aws.ToString(d.Value)
			}
		}
	}
	for _, c := range t.Containers {
		for _, n := range c.NetworkInterfaces {
			if ip := aws.ToString(n.PrivateIpv4Address); ip != "" {
				return ip
			}
		}
	}
	return ""
}

// StopPreview stops the task of an ECS preview whose record was closed.
func (r *Runner) StopPreview(ctx context.Context, p rdb.Preview) {
	if p.Runner != "ecs" || p.Handle == "" {
		return
	}
	cluster := r.taskCluster(&jobs.Job{Repo: p.Repo}, p.Handle)
	_ = r.stop(ctx, cluster, p.Handle, fmt.Sprintf("the preview of job #%d was stopped", p.Job))
}
