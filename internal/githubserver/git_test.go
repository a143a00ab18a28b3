package githubserver_test

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

// gitRepo makes a git repository on branch main in a new directory, with
// files committed, and returns it with a function that runs git in it.
func gitRepo(t *testing.T, files map[string]string) (string, func(args ...string) string) {
	t.Helper()
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "--quiet", "--initial-branch=main")
	writeFiles(t, dir, files)
	git("add", "-A")
	git("commit", "--quiet", "-m", "first")
	return dir, git
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGitRepoServesGitsCommitsAndFiles(t *testing.T) {
	dir, git := gitRepo(t, map[string]string{".gantry.yml": "image: go\n", "src/main.go": "package main\n"})
	srv := githubserver.New(t)
	srv.AddGitRepo("acme/hello", dir)
	gh := client(t, srv, githubserver.Token)
	head := git("rev-parse", "HEAD")

	r, _, err := gh.Repositories.Get(ctx, "acme", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if r.GetDefaultBranch() != "main" || r.GetCloneURL() != "file://"+filepath.ToSlash(dir) || srv.CloneURL("acme/hello") != r.GetCloneURL() {
		t.Errorf("default branch %q, clone_url %q", r.GetDefaultBranch(), r.GetCloneURL())
	}
	sha, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "main", "")
	if err != nil || sha != head {
		t.Fatalf("GetCommitSHA1(main) = %q, %v; want git's %s", sha, err, head)
	}
	f, _, _, err := gh.Repositories.GetContents(ctx, "acme", "hello", "src/main.go", &github.RepositoryContentGetOptions{Ref: head})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.GetContent(); got != "package main\n" {
		t.Errorf("src/main.go = %q", got)
	}

	// A commit made with git afterwards is served, on a new branch too.
	git("checkout", "--quiet", "-b", "feature")
	writeFiles(t, dir, map[string]string{".gantry.yml": "image: rust\n"})
	git("commit", "--quiet", "-am", "switch image")
	second := git("rev-parse", "HEAD")
	if got := srv.Head("acme/hello", "feature"); got != second {
		t.Fatalf("Head(feature) = %q, want %s", got, second)
	}
	c, ok := srv.Commit("acme/hello", second)
	if !ok || c.Parent != head || c.Message != "switch image" || c.Files[".gantry.yml"] != "image: rust\n" || c.Files["src/main.go"] != "package main\n" {
		t.Errorf("Commit(%s) = %+v, %v", second, c, ok)
	}
	f, _, _, err = gh.Repositories.GetContents(ctx, "acme", "hello", ".gantry.yml", &github.RepositoryContentGetOptions{Ref: "feature"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.GetContent(); got != "image: rust\n" {
		t.Errorf(".gantry.yml on feature = %q", got)
	}
	if p := srv.PushFor("acme/hello", "feature"); p.After != second || p.Before != head || p.CloneURL != r.GetCloneURL() {
		t.Errorf("PushFor = %+v", p)
	}

	// Statuses and deployments take git's SHAs.
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", second, &github.RepoStatus{State: github.String("success")}); err != nil {
		t.Errorf("CreateStatus on a git commit: %v", err)
	}
	_, _, err = gh.Repositories.CreateDeployment(ctx, "acme", "hello", &github.DeploymentRequest{
		Ref: github.String(second), RequiredContexts: &[]string{}, AutoMerge: github.Bool(false),
	})
	if err != nil {
		t.Errorf("CreateDeployment of a git commit: %v", err)
	}

	// A deleted branch and a new tag show up as well.
	git("checkout", "--quiet", "main")
	git("branch", "--quiet", "-D", "feature")
	git("tag", "-a", "-m", "release", "v1", head)
	if got := srv.Head("acme/hello", "feature"); got != "" {
		t.Errorf("Head(feature) after git branch -D = %q", got)
	}
	if sha, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "v1", ""); err != nil || sha != head {
		t.Errorf("GetCommitSHA1(v1), an annotated tag = %q, %v; want %s", sha, err, head)
	}
	if _, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "feature", ""); statusOf(err) != http.StatusUnprocessableEntity {
		t.Errorf("GetCommitSHA1(deleted branch): err = %v, want 422", err)
	}
}

func TestGitRepoClonesAtTheSameSHA(t *testing.T) {
	dir, git := gitRepo(t, map[string]string{"hello.txt": "hi\n"})
	srv := githubserver.New(t)
	srv.AddGitRepo("acme/hello", dir)
	head := git("rev-parse", "HEAD")
	dst := filepath.Join(t.TempDir(), "clone")
	out, err := exec.Command("git", "clone", "--quiet", "--", srv.CloneURL("acme/hello"), dst).CombinedOutput()
	if err != nil {
		t.Fatalf("git clone %s: %v\n%s", srv.CloneURL("acme/hello"), err, out)
	}
	got, err := exec.Command("git", "-C", dst, "rev-parse", "HEAD").Output()
	if err != nil || strings.TrimSpace(string(got)) != head {
		t.Errorf("clone is at %q (%v), want %s", got, err, head)
	}
}

func TestGitRepoRefusesAddCommit(t *testing.T) {
	dir, _ := gitRepo(t, map[string]string{"a": "a\n"})
	ftb := &fakeTB{TB: t}
	srv := githubserver.New(ftb)
	srv.AddGitRepo("acme/hello", dir)
	if sha := srv.AddCommit("acme/hello", "main", map[string]string{"b": "b\n"}); sha != "" {
		t.Errorf("AddCommit on a git-backed repo = %q", sha)
	}
	srv.DeleteBranch("acme/hello", "main")
	if len(ftb.errors) != 2 || !strings.Contains(ftb.errors[0], "commit there with git") {
		t.Errorf("reported %q", ftb.errors)
	}
	if srv.Head("acme/hello", "main") == "" {
		t.Error("DeleteBranch removed a branch of a git-backed repo")
	}
}

func TestAddGitRepoOfAPlainDirectory(t *testing.T) {
	ftb := &fakeTB{TB: t}
	srv := githubserver.New(ftb)
	srv.AddGitRepo("acme/hello", t.TempDir())
	if len(ftb.errors) != 1 || !strings.Contains(ftb.errors[0], "is not a git repository") {
		t.Errorf("reported %q", ftb.errors)
	}
}
