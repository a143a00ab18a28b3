package scm_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/scm"
)

// A read that fails after its retries is counted once, by kind; one that
// succeeds on a retry is not.
func TestFailedReadsAreCounted(t *testing.T) {
	var mu sync.Mutex
	var failed []string
	f := setup(t, scm.GitHubConfig{MaxRetries: 1, ReadFailed: func(call string) {
		mu.Lock()
		failed = append(failed, call)
		mu.Unlock()
	}})
	ctx := context.Background()
	f.srv.FailNext(githubserver.RouteGetContents, 1, http.StatusBadGateway)
	if _, err := f.gh.ReadFile(ctx, "acme/hello", f.sha, ".gantry.yml"); err != nil {
		t.Fatalf("a read that mends on retry failed: %v", err)
	}
	f.srv.FailNext(githubserver.RouteGetRepo, 5, http.StatusBadGateway)
	if _, _, _, err := f.gh.Resolve(ctx, "acme/hello", "main"); err == nil {
		t.Fatal("resolve succeeded against a GitHub that fails")
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(failed, []string{"get_repository"}) {
		t.Errorf("failed reads counted = %v, want [get_repository]", failed)
	}
}
