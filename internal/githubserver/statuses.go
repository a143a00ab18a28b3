package githubserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxDescription is the longest description, in characters, GitHub accepts
// on a commit status or a deployment status.
const MaxDescription = 140

// MaxStatusesPerContext is how many statuses one SHA may have per context.
const MaxStatusesPerContext = 1000

// Status is a commit status as the server received it.
type Status struct {
	ID          int64
	Repo        string // owner/name
	SHA         string
	State       string // pending, success, failure or error
	TargetURL   string
	Description string
	Context     string // "default" when the request had none
	Time        time.Time
}

// Deployment is a deployment as the server received it, with its statuses.
type Deployment struct {
	ID          int64
	Repo        string // owner/name
	Ref         string // as sent
	SHA         string // what Ref resolved to
	Task        string // "deploy" when the request had none
	Environment string // "production" when the request had none
	Description string
	Payload     json.RawMessage // as sent; nil when absent
	// AutoMerge is what the request asked for; GitHub's default is true.
	AutoMerge bool
	// RequiredContexts is nil when the request left it out (GitHub then
	// requires every context to be successful) and empty when it sent [].
	RequiredContexts      []string
	TransientEnvironment  bool
	ProductionEnvironment bool
	Statuses              []DeploymentStatus
	Time                  time.Time
}

// DeploymentStatus is one status of a deployment.
type DeploymentStatus struct {
	ID             int64
	State          string
	LogURL         string
	EnvironmentURL string
	Description    string
	Environment    string
	AutoInactive   bool // what the request asked for (GitHub's default is true)
	Auto           bool // added by the server: an inactive status caused by a later success
	Time           time.Time
}

// Statuses returns the statuses of sha in repo in the order they arrived.
func (s *Server) Statuses(repoName, sha string) []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[strings.ToLower(repoName)]; r != nil {
		return slices.Clone(r.statuses[sha])
	}
	return nil
}

// LatestStatus returns the newest status of sha in repo for context.
func (s *Server) LatestStatus(repoName, sha, context string) (Status, bool) {
	st := s.Statuses(repoName, sha)
	for i := len(st) - 1; i >= 0; i-- {
		if st[i].Context == context {
			return st[i], true
		}
	}
	return Status{}, false
}

// Deployments returns the deployments of repo in the order they were made.
func (s *Server) Deployments(repoName string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r == nil {
		return nil
	}
	out := make([]Deployment, 0, len(r.deployments))
	for _, id := range r.deployments {
		out = append(out, s.deployments[id].clone())
	}
	return out
}

// Deployment returns the deployment id.
func (s *Server) Deployment(id int64) (Deployment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deployments[id]
	if d == nil {
		return Deployment{}, false
	}
	return d.clone(), true
}

func (d *Deployment) clone() Deployment {
	out := *d
	out.Payload = slices.Clone(d.Payload)
	out.RequiredContexts = slices.Clone(d.RequiredContexts)
	if d.RequiredContexts != nil && out.RequiredContexts == nil {
		out.RequiredContexts = []string{}
	}
	out.Statuses = slices.Clone(d.Statuses)
	return out
}

var statusStates = []string{"pending", "success", "failure", "error"}

func (s *Server) createStatus(req *http.Request, body []byte) response {
	var in struct {
		State       *string `json:"state"`
		TargetURL   *string `json:"target_url"`
		Description *string `json:"description"`
		Context     *string `json:"context"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return errorReply(http.StatusBadRequest, "Problems parsing JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	sha := req.PathValue("sha")
	if r.commits[sha] == nil {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+sha)
	}
	st := Status{Repo: r.fullName(), SHA: sha, Context: "default", Time: time.Now().UTC()}
	if in.State == nil || !slices.Contains(statusStates, *in.State) {
		return validationFailed("Status", "state", "state is not included in the list")
	}
	st.State = *in.State
	if in.TargetURL != nil {
		st.TargetURL = *in.TargetURL
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > MaxDescription {
			return validationFailed("Status", "description", fmt.Sprintf("description is too long (maximum is %d characters)", MaxDescription))
		}
		st.Description = *in.Description
	}
	if in.Context != nil && *in.Context != "" {
		st.Context = *in.Context
	}
	n := 0
	for _, old := range r.statuses[sha] {
		if old.Context == st.Context {
			n++
		}
	}
	if n >= MaxStatusesPerContext {
		return validationFailed("Status", "context", "This SHA and context has reached the maximum number of statuses.")
	}
	st.ID = s.nextIDLocked()
	r.statuses[sha] = append(r.statuses[sha], st)
	s.notifyLocked()
	return reply(http.StatusCreated, map[string]any{
		"id": st.ID, "node_id": fmt.Sprintf("SC_%d", st.ID), "url": s.apiURL("repos/%s/statuses/%s", r.fullName(), sha),
		"state": st.State, "target_url": nullable(st.TargetURL), "description": nullable(st.Description), "context": st.Context,
		"avatar_url": s.http.URL + "/avatars/" + BotLogin, "creator": s.user(BotLogin, 1),
		"created_at": st.Time.Format(time.RFC3339), "updated_at": st.Time.Format(time.RFC3339),
	})
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// latestStatesLocked returns the newest state per context of sha.
func latestStatesLocked(r *repo, sha string) map[string]string {
	out := map[string]string{}
	for _, st := range r.statuses[sha] {
		out[st.Context] = st.State
	}
	return out
}

// isAncestorLocked reports whether a is b or one of b's ancestors.
func isAncestorLocked(r *repo, a, b string) bool {
	for c := r.commits[b]; c != nil; c = r.commits[c.Parent] {
		if c.SHA == a {
			return true
		}
	}
	return false
}

func (s *Server) createDeployment(req *http.Request, body []byte) response {
	var in struct {
		Ref                   *string         `json:"ref"`
		Task                  *string         `json:"task"`
		AutoMerge             *bool           `json:"auto_merge"`
		RequiredContexts      *[]string       `json:"required_contexts"`
		Payload               json.RawMessage `json:"payload"`
		Environment           *string         `json:"environment"`
		Description           *string         `json:"description"`
		TransientEnvironment  *bool           `json:"transient_environment"`
		ProductionEnvironment *bool           `json:"production_environment"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return errorReply(http.StatusBadRequest, "Problems parsing JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	if in.Ref == nil || *in.Ref == "" {
		return validationFailed("Deployment", "ref", "ref is missing")
	}
	d := &Deployment{
		Repo: r.fullName(), Ref: *in.Ref, Task: "deploy", Environment: "production", AutoMerge: true,
		Time: time.Now().UTC(),
	}
	sha, ok := resolveLocked(r, d.Ref)
	if !ok {
		return validationFailed("Deployment", "ref", "No ref found for: "+d.Ref)
	}
	d.SHA = sha
	if in.Task != nil && *in.Task != "" {
		d.Task = *in.Task
	}
	if in.Environment != nil && *in.Environment != "" {
		d.Environment = *in.Environment
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > MaxDescription {
			return validationFailed("Deployment", "description", fmt.Sprintf("description is too long (maximum is %d characters)", MaxDescription))
		}
		d.Description = *in.Description
	}
	if in.AutoMerge != nil {
		d.AutoMerge = *in.AutoMerge
	}
	if in.TransientEnvironment != nil {
		d.TransientEnvironment = *in.TransientEnvironment
	}
	d.ProductionEnvironment = d.Environment == "production"
	if in.ProductionEnvironment != nil {
		d.ProductionEnvironment = *in.ProductionEnvironment
	}
	if len(in.Payload) > 0 && string(in.Payload) != "null" {
		d.Payload = in.Payload
	}

	// Auto-merge: a branch behind the default branch is merged first, and
	// GitHub answers 202 without creating a deployment.
	if head := r.branches[d.Ref]; d.AutoMerge && head != "" && d.Ref != r.defaultBranch {
		if base := r.branches[r.defaultBranch]; base != "" && !isAncestorLocked(r, base, head) {
			return errorReply(http.StatusAccepted, fmt.Sprintf("Auto-merged %s into %s on deployment.", r.defaultBranch, d.Ref))
		}
	}
	// Required contexts: all of them when the request names none.
	states := latestStatesLocked(r, sha)
	var required []string
	if in.RequiredContexts == nil {
		for c := range states {
			required = append(required, c)
		}
	} else {
		d.RequiredContexts = slices.Clone(*in.RequiredContexts)
		if d.RequiredContexts == nil {
			d.RequiredContexts = []string{}
		}
		required = d.RequiredContexts
	}
	var failing []string
	for _, c := range required {
		if states[c] != "success" {
			failing = append(failing, c)
		}
	}
	if len(failing) > 0 {
		slices.Sort(failing)
		return errorReply(http.StatusConflict, fmt.Sprintf("Conflict: Commit status checks failed for %s (%s).", d.Ref, strings.Join(failing, ", ")))
	}

	d.ID = 7000000 + s.nextIDLocked()
	s.deployments[d.ID] = d
	r.deployments = append(r.deployments, d.ID)
	s.notifyLocked()
	return reply(http.StatusCreated, s.deploymentJSON(r, d))
}

func (s *Server) deploymentJSON(r *repo, d *Deployment) map[string]any {
	payload := json.RawMessage(`{}`)
	if d.Payload != nil {
		payload = d.Payload
	}
	url := s.apiURL("repos/%s/deployments/%d", r.fullName(), d.ID)
	return map[string]any{
		"id": d.ID, "node_id": fmt.Sprintf("DE_%d", d.ID), "url": url, "sha": d.SHA, "ref": d.Ref, "task": d.Task,
		"payload": payload, "original_environment": d.Environment, "environment": d.Environment,
		"description": nullable(d.Description), "creator": s.user(BotLogin, 1),
		"created_at": d.Time.Format(time.RFC3339), "updated_at": d.Time.Format(time.RFC3339),
		"statuses_url": url + "/statuses", "repository_url": s.apiURL("repos/%s", r.fullName()),
		"transient_environment": d.TransientEnvironment, "production_environment": d.ProductionEnvironment,
	}
}

var deploymentStates = []string{"error", "failure", "inactive", "in_progress", "queued", "pending", "success"}

func (s *Server) createDeploymentStatus(req *http.Request, body []byte) response {
	var in struct {
		State          *string `json:"state"`
		TargetURL      *string `json:"target_url"`
		LogURL         *string `json:"log_url"`
		Description    *string `json:"description"`
		Environment    *string `json:"environment"`
		EnvironmentURL *string `json:"environment_url"`
		AutoInactive   *bool   `json:"auto_inactive"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return errorReply(http.StatusBadRequest, "Problems parsing JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	id, err := strconv.ParseInt(req.PathValue("id"), 10, 64)
	d := s.deployments[id]
	if err != nil || d == nil || !strings.EqualFold(d.Repo, r.fullName()) {
		return reply(http.StatusNotFound, notFound())
	}
	if in.State == nil || !slices.Contains(deploymentStates, *in.State) {
		return validationFailed("DeploymentStatus", "state", "state is not included in the list")
	}
	st := DeploymentStatus{State: *in.State, Environment: d.Environment, AutoInactive: true, Time: time.Now().UTC()}
	if in.LogURL != nil {
		st.LogURL = *in.LogURL
	} else if in.TargetURL != nil {
		st.LogURL = *in.TargetURL
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > MaxDescription {
			return validationFailed("DeploymentStatus", "description", fmt.Sprintf("description is too long (maximum is %d characters)", MaxDescription))
		}
		st.Description = *in.Description
	}
	if in.EnvironmentURL != nil {
		st.EnvironmentURL = *in.EnvironmentURL
	}
	if in.Environment != nil && *in.Environment != "" {
		st.Environment = *in.Environment
		d.Environment = *in.Environment
	}
	if in.AutoInactive != nil {
		st.AutoInactive = *in.AutoInactive
	}
	st.ID = s.nextIDLocked()
	d.Statuses = append(d.Statuses, st)

	// auto_inactive: earlier successful deployments to the same
	// non-production, non-transient environment become inactive.
	if st.State == "success" && st.AutoInactive {
		for _, otherID := range r.deployments {
			o := s.deployments[otherID]
			if o == d || o.Environment != d.Environment || o.ProductionEnvironment || o.TransientEnvironment ||
				len(o.Statuses) == 0 || o.Statuses[len(o.Statuses)-1].State != "success" {
				continue
			}
			o.Statuses = append(o.Statuses, DeploymentStatus{
				ID: s.nextIDLocked(), State: "inactive", Environment: o.Environment, Auto: true, Time: st.Time,
			})
		}
	}
	s.notifyLocked()
	url := s.apiURL("repos/%s/deployments/%d", r.fullName(), d.ID)
	return reply(http.StatusCreated, map[string]any{
		"id": st.ID, "node_id": fmt.Sprintf("DES_%d", st.ID), "url": fmt.Sprintf("%s/statuses/%d", url, st.ID),
		"state": st.State, "creator": s.user(BotLogin, 1), "description": st.Description, "environment": st.Environment,
		"target_url": st.LogURL, "log_url": st.LogURL, "environment_url": st.EnvironmentURL,
		"created_at": st.Time.Format(time.RFC3339), "updated_at": st.Time.Format(time.RFC3339),
		"deployment_url": url, "repository_url": s.apiURL("repos/%s", r.fullName()),
	})
}
