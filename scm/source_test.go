package scm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// A configured checkout without default_branch builds its current branch,
// whatever it is called; with one, that branch.
func TestResolverDefaultBranchOfACheckout(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	os.MkdirAll(dir, 0o755)
	gitIn(t, dir, "init", "-q", "-b", "trunk")
	os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(gantryYML), 0o644)
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "one")
	trunk := gitIn(t, dir, "rev-parse", "HEAD")
	gitIn(t, dir, "branch", "release")

	cfg, err := spec.ParseServer("gantry.yml", []byte("repos:\n  app: {path: "+dir+"}\n  rel: {path: "+dir+", default_branch: release}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := scm.NewResolver(cfg, nil)
	src, err := r.Resolve(context.Background(), "app", "", false)
	if err != nil || src.Ref != "trunk" || src.SHA != trunk || src.Kind != jobs.SourceGit || src.SpecName != "app/.gantry.yml" {
		t.Fatalf("app: %+v, %v", src, err)
	}
	src, err = r.Resolve(context.Background(), "rel", "", false)
	if err != nil || src.Ref != "release" {
		t.Fatalf("rel: %+v, %v", src, err)
	}
	if _, err := r.Resolve(context.Background(), dir, "", false); err == nil || !strings.Contains(err.Error(), "I don't know a repo called") {
		t.Errorf("a path from chat was resolved: %v", err)
	}
}

// A GitHub repo's configured default_branch wins over GitHub's own.
func TestResolverDefaultBranchOnGitHub(t *testing.T) {
	f := setup(t, scm.GitHubConfig{})
	dev := f.srv.AddCommit("acme/hello", "develop", map[string]string{".gantry.yml": gantryYML})
	cfg := &spec.Server{Repos: map[string]spec.Repo{
		"hello": {GitHub: "acme/hello", DefaultBranch: "develop"},
		"plain": {GitHub: "acme/hello"},
	}}
	r := scm.NewResolver(cfg, f.gh)
	src, err := r.Resolve(context.Background(), "hello", "", false)
	if err != nil || src.Ref != "develop" || src.SHA != dev {
		t.Fatalf("hello: %+v, %v", src, err)
	}
	src, err = r.Resolve(context.Background(), "plain", "", false)
	if err != nil || src.Ref != "main" || src.SHA != f.sha {
		t.Fatalf("plain: %+v, %v", src, err)
	}
}
