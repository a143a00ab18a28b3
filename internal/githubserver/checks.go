package githubserver

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The routes of what a commit's checks say and what a branch requires.
const (
	RouteCombinedStatus       Route = "GET /repos/{owner}/{repo}/commits/{ref}/status"
	RouteListCheckRuns        Route = "GET /repos/{owner}/{repo}/commits/{ref}/check-runs"
	RouteRequiredStatusChecks Route = "GET /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks"
)

// CheckRun is a check run of a commit, as a GitHub App (CI) made it.
type CheckRun struct {
	ID         int64
	Name       string
	Status     string // queued, in_progress or completed
	Conclusion string // with completed: success, failure, neutral, cancelled, skipped, timed_out, action_required
	Time       time.Time
}

// AddCheckRun adds a check run named name to commit sha of repo. A later
// run of the same name supersedes the earlier, as a re-run does.
func (s *Server) AddCheckRun(repoName, sha, name, status, conclusion string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r == nil {
		s.errorf("AddCheckRun: no repository %s", repoName)
		return
	}
	s.refreshLocked(r)
	if r.commits[sha] == nil {
		s.errorf("AddCheckRun: %s has no commit %s", repoName, sha)
		return
	}
	if r.checkRuns == nil {
		r.checkRuns = map[string][]CheckRun{}
	}
	r.checkRuns[sha] = append(r.checkRuns[sha], CheckRun{ID: s.nextIDLocked(), Name: name, Status: status, Conclusion: conclusion, Time: time.Now().UTC()})
	s.notifyLocked()
}

// AddStatus adds a commit status to sha of repo, as another CI would post
// it (gantry's own arrive through the API).
func (s *Server) AddStatus(repoName, sha, context, state string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r == nil {
		s.errorf("AddStatus: no repository %s", repoName)
		return
	}
	if !slices.Contains(statusStates, state) {
		s.errorf("AddStatus: state %q is not one of %v", state, statusStates)
		return
	}
	r.statuses[sha] = append(r.statuses[sha], Status{ID: s.nextIDLocked(), Repo: r.fullName(), SHA: sha, State: state, Context: context, Time: time.Now().UTC()})
	s.notifyLocked()
}

// ProtectBranch makes branch of repo protected, requiring the status
// checks contexts (none: protected without required checks).
func (s *Server) ProtectBranch(repoName, branch string, contexts ...string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r == nil {
		s.errorf("ProtectBranch: no repository %s", repoName)
		return
	}
	if r.protected == nil {
		r.protected = map[string][]string{}
	}
	r.protected[branch] = append([]string{}, contexts...)
	s.notifyLocked()
}

// AddUser makes login a GitHub user whose commits are those with author
// email: the commit's "author" names them, as GitHub links commits to the
// account that verified the email.
func (s *Server) AddUser(login, email string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logins == nil {
		s.logins = map[string]string{}
	}
	s.logins[strings.ToLower(email)] = login
}

func (s *Server) combinedStatus(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	sha, ok := resolveLocked(r, req.PathValue("ref"))
	if !ok {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+req.PathValue("ref"))
	}
	latest := map[string]Status{}
	var order []string
	for _, st := range r.statuses[sha] {
		if _, seen := latest[st.Context]; !seen {
			order = append(order, st.Context)
		}
		latest[st.Context] = st
	}
	statuses := []map[string]any{}
	state := "success"
	for _, c := range order {
		st := latest[c]
		switch {
		case st.State == "failure" || st.State == "error":
			state = "failure"
		case st.State == "pending" && state != "failure":
			state = "pending"
		}
		statuses = append(statuses, map[string]any{
			"id": st.ID, "state": st.State, "context": st.Context, "description": nullable(st.Description), "target_url": nullable(st.TargetURL),
			"created_at": st.Time.Format(time.RFC3339), "updated_at": st.Time.Format(time.RFC3339),
		})
	}
	if len(order) == 0 {
		state = "pending"
	}
	return reply(http.StatusOK, map[string]any{
		"state": state, "sha": sha, "total_count": len(statuses), "statuses": statuses,
		"url": s.apiURL("repos/%s/commits/%s/status", r.fullName(), sha),
	})
}

func (s *Server) listCheckRuns(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	sha, ok := resolveLocked(r, req.PathValue("ref"))
	if !ok {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+req.PathValue("ref"))
	}
	// filter=latest (GitHub's default): the newest run of each name.
	runs := r.checkRuns[sha]
	if req.URL.Query().Get("filter") != "all" {
		newest := map[string]int{}
		for i, c := range runs {
			newest[c.Name] = i
		}
		var latest []CheckRun
		for i, c := range runs {
			if newest[c.Name] == i {
				latest = append(latest, c)
			}
		}
		runs = latest
	}
	out := []map[string]any{}
	for i := len(runs) - 1; i >= 0; i-- { // newest first, as GitHub lists them
		c := runs[i]
		out = append(out, map[string]any{
			"id": c.ID, "head_sha": sha, "name": c.Name, "status": c.Status, "conclusion": nullable(c.Conclusion),
			"started_at": c.Time.Format(time.RFC3339), "url": s.apiURL("repos/%s/check-runs/%d", r.fullName(), c.ID),
		})
	}
	return reply(http.StatusOK, map[string]any{"total_count": len(out), "check_runs": out})
}

func (s *Server) requiredStatusChecks(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	branch := req.PathValue("branch")
	if r.branches[branch] == "" {
		return errorReply(http.StatusNotFound, "Branch not found")
	}
	contexts, ok := r.protected[branch]
	if !ok {
		return errorReply(http.StatusNotFound, "Branch not protected")
	}
	checks := []map[string]any{}
	for _, c := range contexts {
		checks = append(checks, map[string]any{"context": c, "app_id": nil})
	}
	return reply(http.StatusOK, map[string]any{
		"url":    s.apiURL("repos/%s/branches/%s/protection/required_status_checks", r.fullName(), branch),
		"strict": false, "contexts": append([]string{}, contexts...), "checks": checks,
		"contexts_url": fmt.Sprintf("%s/contexts", s.apiURL("repos/%s/branches/%s/protection/required_status_checks", r.fullName(), branch)),
	})
}
