package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// checkout puts the job's source at dst: a clone at the job's SHA for git
// sources, a copy for plain directories.
func (r *Runner) checkout(ctx context.Context, j *jobs.Job, dst string, log io.Writer) error {
	switch j.Source {
	case jobs.SourceDir:
		if err := copyTree(j.Path, dst); err != nil {
			return jobs.Permanent(&jobs.UserError{Msg: say.F("could not copy %s", j.Path), Err: err})
		}
		return nil
	case jobs.SourceGit:
		return r.clone(ctx, j, j.Path, dst, nil, log)
	case jobs.SourceGitHub:
		var env []string
		if r.cfg.GitHubToken != "" {
			cred := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + r.cfg.GitHubToken))
			env = []string{"GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader",
				"GIT_CONFIG_VALUE_0=Authorization: Basic " + cred}
		}
		return r.clone(ctx, j, j.CloneURL, dst, env, log)
	default:
		return jobs.Permanent(fmt.Errorf("job #%d has no source (kind %q)", j.ID, j.Source))
	}
}

func (r *Runner) clone(ctx context.Context, j *jobs.Job, from, dst string, env []string, log io.Writer) error {
	if j.SHA == "" {
		return jobs.Permanent(fmt.Errorf("job #%d has no SHA to check out", j.ID))
	}
	fmt.Fprintf(log, "── checking out %s at %s\n", j.Repo, j.ShortSHA())
	if err := git(ctx, "", env, "clone", "--quiet", "--no-checkout", "--", from, dst); err != nil {
		return fmt.Errorf("clone %s: %w", j.Repo, err)
	}
	if err := git(ctx, dst, env, "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", j.SHA, "--"); err != nil {
		return jobs.Permanent(&jobs.UserError{Msg: say.F("could not check out %s in %s", j.ShortSHA(), j.Repo), Err: err})
	}
	return nil
}

func git(ctx context.Context, dir string, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, "git", args...)
	// A helper git started (git-remote-https) that outlives a killed git
	// could hold stderr open: stop waiting for it after a while.
	cmd.WaitDelay = killWait
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	cmd.Env = append(cmd.Env, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("git %s: %w: %s", args[0], err, bytes.TrimSpace(stderr.Bytes()))
	}
	return nil
}

// copyTree copies the directory src to dst, keeping modes and symlinks.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			return copyFile(p, target, info.Mode().Perm())
		default:
			return nil // sockets, devices: not part of a source tree
		}
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
