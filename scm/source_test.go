package scm_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

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
	if err != nil || src.Ref != "trunk" || src.SHA != trunk || src.Kind != jobs.SourceGit || src.SpecName != "app/.gantry.yml" || src.Message != "one" {
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
	if err != nil || src.Ref != "develop" || src.SHA != dev || src.Message != "Update .gantry.yml" {
		t.Fatalf("hello: %+v, %v", src, err)
	}
	src, err = r.Resolve(context.Background(), "plain", "", false)
	if err != nil || src.Ref != "main" || src.SHA != f.sha {
		t.Fatalf("plain: %+v, %v", src, err)
	}
}

// allocated returns how many bytes f allocated on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A .gantry.yml above spec.MaxFileSize is refused by its size, named with
// its size and the limit, before its content is read: in a plain directory
// (a sparse 300 MB file), in a git checkout (an 8 MiB blob) and on GitHub.
func TestOversizedGantryYmlRefusedBeforeRead(t *testing.T) {
	const limitText = "gantry reads files of at most 1048576 bytes (1 MiB)"
	cfg := &spec.Server{Repos: map[string]spec.Repo{}}

	t.Run("plain directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "plain")
		os.MkdirAll(dir, 0o755)
		const size = 300 << 20
		if err := os.Truncate(createFile(t, filepath.Join(dir, ".gantry.yml")), size); err != nil {
			t.Fatal(err)
		}
		var err error
		grew := allocated(func() { _, err = scm.NewResolver(cfg, nil).Resolve(context.Background(), dir, "", true) })
		want := dir + "/.gantry.yml is 314572800 bytes; " + limitText
		if got := userMessage(t, err); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
		if grew > 4<<20 {
			t.Errorf("refusing a %d-byte file allocated %d bytes: it was read", size, grew)
		}
	})

	t.Run("git checkout", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "app")
		os.MkdirAll(dir, 0o755)
		gitIn(t, dir, "init", "-q", "-b", "main")
		const size = 8 << 20
		os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte("# "+strings.Repeat("x", size-3)+"\n"), 0o644)
		gitIn(t, dir, "add", ".")
		gitIn(t, dir, "commit", "-q", "-m", "big")
		var err error
		grew := allocated(func() { _, err = scm.NewResolver(cfg, nil).Resolve(context.Background(), dir, "main", true) })
		want := dir + "/.gantry.yml is 8388608 bytes; " + limitText
		if got := userMessage(t, err); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
		if grew > 4<<20 {
			t.Errorf("refusing an %d-byte blob allocated %d bytes: it was read", size, grew)
		}
	})

	t.Run("GitHub", func(t *testing.T) {
		f := setup(t, scm.GitHubConfig{})
		big := f.srv.AddCommit("acme/hello", "main", map[string]string{".gantry.yml": strings.Repeat("#", 2<<20)})
		cfg := &spec.Server{Repos: map[string]spec.Repo{"hello": {GitHub: "acme/hello"}}}
		_, err := scm.NewResolver(cfg, f.gh).Resolve(context.Background(), "hello", "main", false)
		want := ".gantry.yml in acme/hello at " + big[:7] + " is 2097152 bytes; " + limitText
		if got := userMessage(t, err); got != want {
			t.Errorf("got  %q\nwant %q", got, want)
		}
		wantPermanent(t, err)
	})
}

// A file at exactly the limit is still read, from a checkout and a
// directory alike.
func TestGantryYmlAtTheLimitIsRead(t *testing.T) {
	body := "# " + strings.Repeat("x", spec.MaxFileSize-3) + "\n"
	dir := filepath.Join(t.TempDir(), "app")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(body), 0o644)
	r := scm.NewResolver(&spec.Server{}, nil)
	src, err := r.Resolve(context.Background(), dir, "", true)
	if err != nil || len(src.Spec) != spec.MaxFileSize {
		t.Fatalf("plain directory: %d bytes, %v", len(src.Spec), err)
	}
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "at the limit")
	src, err = r.Resolve(context.Background(), dir, "", true)
	if err != nil || len(src.Spec) != spec.MaxFileSize || src.Kind != jobs.SourceGit {
		t.Fatalf("checkout: %d bytes, %v", len(src.Spec), err)
	}
}

// A .gantry.yml that is a FIFO, a device or a directory is refused at once:
// reading it would block or never end.
func TestGantryYmlThatIsNoFileIsRefused(t *testing.T) {
	r := scm.NewResolver(&spec.Server{}, nil)
	for name, create := range map[string]func(path string) error{
		"fifo":      func(p string) error { return syscall.Mkfifo(p, 0o644) },
		"device":    func(p string) error { return os.Symlink("/dev/zero", p) },
		"directory": func(p string) error { return os.Mkdir(p, 0o755) },
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "plain")
			os.MkdirAll(dir, 0o755)
			if err := create(filepath.Join(dir, ".gantry.yml")); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := r.Resolve(context.Background(), dir, "", true); done <- err }()
			select {
			case err := <-done:
				if got, want := userMessage(t, err), dir+"/.gantry.yml is not a regular file"; got != want {
					t.Errorf("got %q, want %q", got, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Resolve is still reading after 10s")
			}
		})
	}
}

// A .gantry.yml that is a directory in a commit is not read as a file.
func TestGantryYmlThatIsATreeIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "app")
	os.MkdirAll(filepath.Join(dir, ".gantry.yml"), 0o755)
	os.WriteFile(filepath.Join(dir, ".gantry.yml", "x"), []byte("x"), 0o644)
	gitIn(t, dir, "init", "-q", "-b", "main")
	gitIn(t, dir, "add", ".")
	gitIn(t, dir, "commit", "-q", "-m", "tree")
	sha := gitIn(t, dir, "rev-parse", "HEAD")
	_, err := scm.NewResolver(&spec.Server{}, nil).Resolve(context.Background(), dir, "", true)
	if got, want := userMessage(t, err), dir+"/.gantry.yml at "+sha[:7]+" is not a file"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func createFile(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

func TestSubjectIsTheFirstLineCut(t *testing.T) {
	for in, want := range map[string]string{
		"Fix the build\n\nLong story.": "Fix the build",
		"  spaced  \n":                 "spaced",
		strings.Repeat("é", 300):       strings.Repeat("é", 199) + "…",
	} {
		if got := scm.Subject(in); got != want {
			t.Errorf("Subject(%q) = %q, want %q", in, got, want)
		}
	}
}
