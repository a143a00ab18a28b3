package ecs

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// FetchConfig says what `gantry fetch` checks out, and where.
type FetchConfig struct {
	URL string // the repository's clone URL (https://, ssh://, file://)
	SHA string // the full commit SHA to check out
	Dir string // where the work tree goes; it must be missing or empty
	// Token authenticates https clones (a GitHub token). It reaches git
	// through git's environment as an HTTP header, never on a command line.
	Token string
	Out   io.Writer // progress lines; nil discards them
	// Tool is where to copy this program (gantry's own static binary), so
	// that the job container can run `gantry collect` after the steps
	// whatever its image; "" copies nothing.
	Tool string
}

// ErrCommitNotFound is returned when the repository has no such commit.
// Its text is what the runner looks for in the fetch container's log.
var ErrCommitNotFound = errors.New(commitNotFound)

const commitNotFound = "commit not found in the repository"

var shaRE = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// Fetch checks the repository out at the commit into cfg.Dir: a shallow
// fetch of that one commit where the server allows it, else a fetch of the
// branches and tags. The tree is then made writable by everyone, so a job
// image that runs as another user than the fetch container can build in it.
func Fetch(ctx context.Context, cfg FetchConfig) error {
	switch {
	case cfg.URL == "" || strings.HasPrefix(cfg.URL, "-"):
		return fmt.Errorf("fetch: the clone URL %q is not valid", cfg.URL)
	case !shaRE.MatchString(cfg.SHA):
		return fmt.Errorf("fetch: %q is not a full commit SHA", cfg.SHA)
	case cfg.Dir == "":
		return errors.New("fetch: no destination directory")
	}
	out := cfg.Out
	if out == nil {
		out = io.Discard
	}
	if entries, err := os.ReadDir(cfg.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("fetch: %s is not empty", cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	g := gitRunner{dir: cfg.Dir, env: tokenEnv(cfg.URL, cfg.Token)}
	fmt.Fprintf(out, "gantry fetch: checking out %s at %s\n", redactURL(cfg.URL), cfg.SHA)
	if err := g.run(ctx, "init", "--quiet"); err != nil {
		return err
	}
	if err := g.run(ctx, "remote", "add", "origin", cfg.URL); err != nil {
		return err
	}
	if err := g.run(ctx, "fetch", "--quiet", "--no-tags", "--depth=1", "origin", cfg.SHA); err != nil {
		fmt.Fprintln(out, "gantry fetch: the server does not hand out single commits; fetching branches and tags")
		if err := g.run(ctx, "fetch", "--quiet", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"); err != nil {
			return err
		}
	}
	if err := g.run(ctx, "cat-file", "-e", cfg.SHA+"^{commit}"); err != nil {
		return fmt.Errorf("fetch: %s: %w", cfg.SHA, ErrCommitNotFound)
	}
	if err := g.run(ctx, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", cfg.SHA, "--"); err != nil {
		return err
	}
	if err := openUp(cfg.Dir); err != nil {
		return fmt.Errorf("fetch: make the work tree writable: %w", err)
	}
	fmt.Fprintf(out, "gantry fetch: checked out %s into %s\n", cfg.SHA[:12], cfg.Dir)
	if cfg.Tool != "" {
		if err := copySelf(cfg.Tool); err != nil {
			return fmt.Errorf("fetch: copy gantry for the job container: %w", err)
		}
	}
	return nil
}

// copySelf copies the running program to dst, executable by everyone.
func copySelf(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chmod(dst, 0o755)
}

// tokenEnv gives git the token as an Authorization header for https URLs,
// through GIT_CONFIG_* variables so it is on no command line.
func tokenEnv(url, token string) []string {
	if token == "" || !strings.HasPrefix(url, "https://") {
		return nil
	}
	cred := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
	return []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
		"GIT_CONFIG_VALUE_0=Authorization: Basic " + cred}
}

// redactURL drops user information from a URL before it is printed.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.LastIndex(u[i+3:], "@"); j >= 0 && !strings.Contains(u[i+3:i+3+j], "/") {
			return u[:i+3] + "…@" + u[i+3+j+1:]
		}
	}
	return u
}

type gitRunner struct {
	dir string
	env []string
}

func (g gitRunner) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	cmd.Env = append(cmd.Env, g.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("fetch: git %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// openUp adds read and write for everyone to the tree (execute where
// someone has it, and on directories).
func openUp(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm() | 0o666
		if d.IsDir() || mode&0o111 != 0 {
			mode |= 0o111
		}
		return os.Chmod(p, mode)
	})
}
