package scm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// The kinds of report.
const (
	kindStatus           = "status"            // a commit status
	kindDeploymentStatus = "deployment_status" // a status of a deployment whose id is known
	kindJobDeployment    = "job_deployment"    // a status of a deploy job's deployment, made when asked
)

// report is one thing to tell GitHub, as it waits in the outbox: plain
// data, so that any gantry process can deliver it after a restart.
type report struct {
	Kind        string        `json:"kind"`
	Repo        string        `json:"repo"`
	SHA         string        `json:"sha,omitempty"`
	Status      *CommitStatus `json:"status,omitempty"`
	Deployment  int64         `json:"deployment,omitempty"`
	Job         int64         `json:"job,omitempty"`
	Env         string        `json:"env,omitempty"`
	State       string        `json:"state,omitempty"` // of a deployment
	LogURL      string        `json:"log_url,omitempty"`
	Description string        `json:"description,omitempty"`
	// Title describes the deployment to make for job Job, when Create
	// says to make one if it has none yet.
	Title  string `json:"title,omitempty"`
	Create bool   `json:"create,omitempty"`
	// Final reports the job's end.
	Final bool `json:"final,omitempty"`
	// UnlessEnded drops a pending status of job Job once the job has
	// ended: another process may have reported the end already.
	UnlessEnded bool      `json:"unless_ended,omitempty"`
	Rounds      int       `json:"rounds,omitempty"` // rounds tried and failed
	Queued      time.Time `json:"queued"`
}

// queue is the outbox queue the report goes in: reports of one commit, or
// of one deployment, are delivered in order.
func (rp *report) queue() string {
	switch rp.Kind {
	case kindStatus:
		return "status:" + rp.Repo + "@" + rp.SHA
	case kindJobDeployment:
		return "deployment-of-job:" + strconv.FormatInt(rp.Job, 10)
	}
	return "deployment:" + rp.Repo + "#" + strconv.FormatInt(rp.Deployment, 10)
}

// attrs describe the report in the log.
func (rp *report) attrs() []any {
	a := []any{"repo", rp.Repo}
	if rp.Job != 0 {
		a = append(a, "job", rp.Job)
	}
	switch rp.Kind {
	case kindStatus:
		a = append(a, "sha", rp.SHA)
		if rp.Status != nil {
			a = append(a, "context", rp.Status.Context, "state", rp.Status.State)
		}
	case kindDeploymentStatus:
		a = append(a, "deployment", rp.Deployment, "state", rp.State)
	case kindJobDeployment:
		a = append(a, "env", rp.Env, "state", rp.State)
	}
	return a
}

// send delivers rp. It returns the GitHub call that failed with the error.
func (r *Reporter) send(ctx context.Context, rp *report) (string, error) {
	switch rp.Kind {
	case kindStatus:
		if rp.Status == nil {
			return "", jobs.Permanent(errors.New("a commit status report without its status"))
		}
		if rp.UnlessEnded && r.jobEnded(ctx, rp.Job) {
			return "", nil
		}
		return "create_status", r.g.SetStatus(ctx, rp.Repo, rp.SHA, *rp.Status)
	case kindDeploymentStatus:
		return "create_deployment_status", r.g.SetDeploymentStatus(ctx, rp.Repo, rp.Deployment, rp.State, rp.LogURL, rp.Description)
	case kindJobDeployment:
		return r.sendJobDeployment(ctx, rp)
	}
	return "", jobs.Permanent(fmt.Errorf("a report of unknown kind %q", rp.Kind))
}

// jobEnded reports whether job id has ended; false when that cannot be read.
func (r *Reporter) jobEnded(ctx context.Context, id int64) bool {
	if id == 0 {
		return false
	}
	j, err := r.store.Get(ctx, id)
	return err == nil && j.State.Final()
}

// sendJobDeployment sets a status on the deployment of a deploy job,
// making the deployment first when rp says to and nobody has.
func (r *Reporter) sendJobDeployment(ctx context.Context, rp *report) (string, error) {
	id, call, err := r.deploymentOf(ctx, rp)
	if err != nil || id == 0 {
		return call, err
	}
	if err := r.g.SetDeploymentStatus(ctx, rp.Repo, id, rp.State, rp.LogURL, rp.Description); err != nil {
		return "create_deployment_status", err
	}
	if rp.Final {
		r.mu.Lock()
		delete(r.deployments, rp.Job)
		r.mu.Unlock()
	}
	return "", nil
}

// deploymentOf returns the id of the GitHub deployment of rp's job, making
// it when rp.Create says so and the job has none: 0 when there is none to
// report on. The reports of one job are delivered one at a time, by one
// process, so the deployment is made once. The call it names is the
// GitHub call that failed, if one did.
func (r *Reporter) deploymentOf(ctx context.Context, rp *report) (int64, string, error) {
	r.mu.Lock()
	id := r.deployments[rp.Job]
	r.mu.Unlock()
	if id != 0 {
		return id, "", nil
	}
	j, err := r.store.Get(ctx, rp.Job)
	if errors.Is(err, jobs.ErrNotFound) {
		return 0, "", jobs.Permanent(fmt.Errorf("read job #%d for its deployment: %w", rp.Job, err))
	}
	if err != nil {
		return 0, "", fmt.Errorf("read job #%d for its deployment: %w", rp.Job, err)
	}
	if j.Deployment != 0 || !rp.Create {
		return j.Deployment, "", nil
	}
	id, err = r.g.CreateDeployment(ctx, rp.Repo, rp.SHA, rp.Env, rp.Title)
	if err != nil {
		return 0, "create_deployment", err
	}
	if err := r.store.Update(ctx, j.ID, "", "", jobs.Set().Deployment(id)); err != nil {
		// This process knows the id; the job's next reports come here
		// while it lives.
		r.log.Error("record GitHub deployment in the job", "job", j.ID, "deployment", id, "err", err)
		r.mu.Lock()
		r.deployments[j.ID] = id
		r.mu.Unlock()
	}
	r.log.Info("GitHub deployment made", "job", j.ID, "repo", rp.Repo, "env", rp.Env, "deployment", id)
	return id, "", nil
}
