package githubserver

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// WaitFor waits until cond(s) holds, re-checking whenever the server's state
// changes, and fails tb with what (and a summary of the server's state) when
// timeout passes first. Call it from the test's goroutine.
func (s *Server) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func(*Server) bool) {
	tb.Helper()
	if !s.changes.Wait(timeout, func() bool { return cond(s) }) {
		tb.Fatalf("githubserver: timed out after %v waiting for %s\n%s", timeout, what, s.Summary())
	}
}

// WaitStatuses waits until sha of repo has at least n statuses and returns
// them.
func (s *Server) WaitStatuses(tb testing.TB, repo, sha string, n int, timeout time.Duration) []Status {
	tb.Helper()
	s.WaitFor(tb, timeout, fmt.Sprintf("%d statuses on %s@%s", n, repo, sha), func(s *Server) bool {
		return len(s.Statuses(repo, sha)) >= n
	})
	return s.Statuses(repo, sha)
}

// Summary describes the server's state for failure messages: the last calls,
// statuses and deployments.
func (s *Server) Summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	start := max(0, len(s.calls)-20)
	fmt.Fprintf(&b, "last %d of %d calls:\n", len(s.calls)-start, len(s.calls))
	for _, c := range s.calls[start:] {
		fmt.Fprintf(&b, "  %s %s %s status=%d %s %s\n", c.Time.Format("15:04:05.000"), c.Method, c.Path, c.Status, c.Fault, shorten(string(c.Body), 160))
	}
	for _, key := range slices.Sorted(maps.Keys(s.repos)) {
		r := s.repos[key]
		fmt.Fprintf(&b, "repo %s (default %s): %d commits, branches %v\n", r.fullName(), r.defaultBranch, len(r.commits), r.branches)
		for _, sha := range slices.Sorted(maps.Keys(r.statuses)) {
			for _, st := range r.statuses[sha] {
				fmt.Fprintf(&b, "  status %s %s=%s %q %s\n", sha[:7], st.Context, st.State, st.Description, st.TargetURL)
			}
		}
		for _, id := range r.deployments {
			d := s.deployments[id]
			fmt.Fprintf(&b, "  deployment %d %s@%s to %s:", d.ID, d.Ref, d.SHA[:7], d.Environment)
			for _, st := range d.Statuses {
				fmt.Fprintf(&b, " %s", st.State)
			}
			b.WriteByte('\n')
		}
	}
	return b.String()
}
