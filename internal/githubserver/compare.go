package githubserver

import (
	"net/http"
	"strings"
)

// RouteCompare is the comparison of two commits, which gantry uses to tell
// whether a commit is on a branch.
const RouteCompare Route = "GET /repos/{owner}/{repo}/compare/{basehead}"

// compare answers GET /repos/{owner}/{repo}/compare/{base}...{head} with
// the fields a caller needs to tell ancestry: status is "identical",
// "behind" (head is an ancestor of base), "ahead" (base is an ancestor of
// head) or "diverged", with ahead_by and behind_by counts. Ancestry follows
// each commit's first parent, which is all this server's history has.
func (s *Server) compare(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	base, head, ok := strings.Cut(req.PathValue("basehead"), "...")
	if !ok {
		return reply(http.StatusNotFound, notFound())
	}
	baseSHA, ok1 := resolveLocked(r, base)
	headSHA, ok2 := resolveLocked(r, head)
	if !ok1 || !ok2 {
		return reply(http.StatusNotFound, notFound())
	}
	behind := distanceLocked(r, baseSHA, headSHA) // commits of base not in head, when head is an ancestor of base
	ahead := distanceLocked(r, headSHA, baseSHA)
	status := "diverged"
	switch {
	case baseSHA == headSHA:
		status = "identical"
	case behind >= 0:
		status = "behind"
	case ahead >= 0:
		status = "ahead"
	}
	return reply(http.StatusOK, map[string]any{
		"status": status, "ahead_by": max(ahead, 0), "behind_by": max(behind, 0),
		"base_commit": map[string]any{"sha": baseSHA}, "merge_base_commit": map[string]any{"sha": mergeBaseLocked(r, baseSHA, headSHA)},
		"commits": []any{}, "files": []any{}, "total_commits": max(ahead, 0),
	})
}

// distanceLocked is how many first-parent steps lead from from back to
// ancestor, or -1 when ancestor is not on that line.
func distanceLocked(r *repo, from, ancestor string) int {
	for n := 0; from != ""; n++ {
		if from == ancestor {
			return n
		}
		c := r.commits[from]
		if c == nil {
			return -1
		}
		from = c.Parent
	}
	return -1
}

func mergeBaseLocked(r *repo, a, b string) string {
	for x := a; x != ""; {
		if distanceLocked(r, b, x) >= 0 {
			return x
		}
		c := r.commits[x]
		if c == nil {
			break
		}
		x = c.Parent
	}
	return ""
}
