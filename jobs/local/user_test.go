package local_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runs steps as another user, which needs root (CI runs as root)")
	}
}

// dumpEveryEnvironment is what a hostile step does to find gantry's tokens.
const dumpEveryEnvironment = `for f in /proc/[0-9]*/environ; do cat $f; base64 -w0 $f; done; cat /proc/$PPID/environ | base64`

// A step running as the unprivileged user reads no process's environment
// but its own: gantry's secrets appear in its output neither plain nor in
// base64. The log is read raw, with no redactor. Gantry is a process of
// its own here, started with the secret in its environment, as gantry is
// started with its tokens.
func TestStepCannotReadGantrysEnvironment(t *testing.T) {
	requireRoot(t)
	secret := "gantry-test-secret-" + randomHex(t, 16)
	t.Setenv("GANTRY_TEST_SECRET", secret)
	run := func(t *testing.T, user string) string {
		srv := redistest.Start(t)
		j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan(dumpEveryEnvironment)}
		h := startHelper(t, srv, j, local.Config{User: user, WorkDir: workDir(t)})
		if code := h.wait(t, 60*time.Second); code == 99 {
			t.Fatal("the job errored")
		}
		s := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
		f := &fixture{store: s, log: jobs.NewLog(s, jobs.LogConfig{}, nil)}
		return f.logOf(t, j.ID)
	}

	t.Run("as nobody", func(t *testing.T) {
		out := run(t, "nobody")
		if !strings.Contains(out, "GANTRY_JOB_TOKEN=") {
			t.Fatalf("the step did not even read its own environment:\n%.2000s", out)
		}
		if found := leaked(out, secret); found != "" {
			t.Fatalf("the step running as nobody printed gantry's secret (%s)", found)
		}
	})
	// The same step as root finds it: the check above would see a leak.
	t.Run("as root, for contrast", func(t *testing.T) {
		if found := leaked(run(t, ""), secret); found == "" {
			t.Fatal("a step running as root did not find the secret: the test proves nothing")
		}
	})
}

// leaked says how secret appears in out: plain, or base64 at any of the
// three alignments a stream can put it at (also wrapped across lines).
func leaked(out, secret string) string {
	if strings.Contains(out, secret) {
		return "plain"
	}
	flat := strings.ReplaceAll(out, "\n", "")
	for shift := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, shift), secret...))
		// Keep the characters made of the secret's bits alone: the first
		// ones also carry the bytes before it, the last the bytes after.
		from := (8*shift + 5) / 6
		to := (8*(shift+len(secret)))/6 - 1
		if strings.Contains(flat, enc[from:to]) {
			return "base64"
		}
	}
	return ""
}

// The step user owns its workspace (the checkout, HOME, TMPDIR) and can
// write there, but cannot read a file of root's with mode 0600, as a token
// file would be.
func TestStepUserOwnsItsWorkspaceButNotRootsFiles(t *testing.T) {
	requireRoot(t)
	f := newFixture(t)
	tokenDir := workDir(t) // reachable by anyone: only the file's mode protects it
	tokenFile := filepath.Join(tokenDir, "token")
	if err := os.WriteFile(tokenFile, []byte("root-only-token-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "tracked.txt"), []byte("tracked\n"), 0o644)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: src, Plan: plan(
		`echo "user $(id -un) groups $(id -G)"`,
		`echo more >> tracked.txt && mkdir -p build && touch build/out && echo wrote-src`,
		`echo x > "$HOME/.cache-file" && echo "wrote-home $HOME"`,
		`echo x > "$TMPDIR/scratch" && mktemp > /dev/null && echo "wrote-tmp $TMPDIR"`,
		`if cat "$TOKEN_FILE"; then echo READ-THE-TOKEN; else echo cannot-read-the-token; fi`,
	)}
	j.Plan.Env["TOKEN_FILE"] = tokenFile
	wd := workDir(t)
	code, err, log := f.run(t, local.New(local.Config{User: "nobody", WorkDir: wd}), j)
	if err != nil || code != 0 {
		t.Fatalf("code %d err %v\n%s", code, err, log)
	}
	for _, want := range []string{"user nobody groups 65534\n", "wrote-src", "wrote-home " + wd, "wrote-tmp " + wd, "cannot-read-the-token"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "root-only-token-value") || strings.Contains(log, "\nREAD-THE-TOKEN\n") {
		t.Errorf("the step read root's token file:\n%s", log)
	}
}

func TestUnknownStepUserIsAConfigError(t *testing.T) {
	requireRoot(t)
	r := local.New(local.Config{User: "no-such-user-for-gantry"})
	if err := r.Check(); err == nil || !strings.Contains(err.Error(), `runner.local.user "no-such-user-for-gantry"`) {
		t.Fatalf("Check() = %v, want an error naming runner.local.user", err)
	}
	f := newFixture(t)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("true")}
	_, err, _ := f.run(t, r, j)
	if !errors.Is(err, jobs.ErrPermanent) {
		t.Fatalf("Run() = %v, want a permanent error", err)
	}
	if got := jobs.UserMessage(err, j.ID).String(); !strings.Contains(got, "runner.local.user") {
		t.Errorf("people read %q", got)
	}
}

// gantry clones with its GitHub token, but the clone the steps get keeps
// no trace of it: not in .git/config, not in the environment.
func TestGitHubTokenIsNotLeftInTheClone(t *testing.T) {
	f := newFixture(t)
	f.log = jobs.NewLog(f.store, jobs.LogConfig{}, nil)
	repo := t.TempDir()
	git(t, repo, "init", "-q", "-b", "main")
	git(t, repo, "commit", "-q", "--allow-empty", "-m", "one")
	sha := git(t, repo, "rev-parse", "HEAD")
	token := "ghs_" + randomHex(t, 16)
	j := &jobs.Job{Repo: "org/app", SHA: sha, Source: jobs.SourceGitHub, CloneURL: repo,
		Plan: plan(`cat .git/config; env; grep -r . .git --include=config* 2>/dev/null; echo done`)}
	code, err, log := f.run(t, local.New(local.Config{GitHubToken: token, WorkDir: workDir(t)}), j)
	if err != nil || code != 0 || !strings.Contains(log, "done\n") {
		t.Fatalf("code %d err %v\n%s", code, err, log)
	}
	if found := leaked(log, token); found != "" {
		t.Errorf("the token is in the clone or the steps' environment (%s):\n%s", found, log)
	}
	if found := leaked(log, "x-access-token:"+token); found != "" {
		t.Errorf("the token's credential is in the clone (%s)", found)
	}
}
