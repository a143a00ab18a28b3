// Package local runs jobs as process groups on the machine gantry runs on:
// the runner for development, the console, and small installations.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// Config configures the local runner. Zero values are the defaults.
type Config struct {
	WorkDir string        // where workspaces are made; "" is the system temp dir
	Grace   time.Duration // between SIGTERM and SIGKILL on cancel; 0 is 5s
	// GitHubToken authenticates clones of GitHub repositories. It is given
	// to git through its environment, never on a command line.
	GitHubToken string
	// PassEnv names variables of gantry's own environment that steps see
	// (besides PATH, HOME, LANG, TZ, TMPDIR, USER). Nothing else leaks in.
	PassEnv []string
	Logger  *slog.Logger
}

// Runner runs each step with bash in a new process group.
type Runner struct {
	cfg Config
}

// New returns a local runner.
func New(cfg Config) *Runner {
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Runner{cfg: cfg}
}

// Run checks the source out into a fresh workspace and runs the plan's
// steps in order, stopping at the first that fails.
func (r *Runner) Run(ctx context.Context, x *jobs.Execution) (int, error) {
	j := x.Job
	if len(j.Plan.Services) > 0 {
		names := make([]string, len(j.Plan.Services))
		for i, s := range j.Plan.Services {
			names[i] = s.Name
		}
		return 0, jobs.Permanent(jobs.Userf("the local runner cannot start services (%s); run this job on the ecs runner", strings.Join(names, ", ")))
	}
	ws, err := os.MkdirTemp(r.cfg.WorkDir, fmt.Sprintf("gantry-job-%d-", j.ID))
	if err != nil {
		return 0, fmt.Errorf("make workspace for job #%d: %w", j.ID, err)
	}
	defer os.RemoveAll(ws)
	src := ws + "/src"
	if err := r.checkout(ctx, j, src, x.Log); err != nil {
		return 0, err
	}
	timeout := j.Plan.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	stepCtx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	env := r.environ(x.StepEnv(), ws)
	for i, st := range j.Plan.Steps {
		if err := x.StepStarted(ctx, i+1); err != nil {
			return 0, err
		}
		began := time.Now()
		code, err := r.step(stepCtx, st.Run, src, env, x.Log)
		if err != nil {
			return 0, fmt.Errorf("step %d of job #%d: %w", i+1, j.ID, err)
		}
		if errors.Is(context.Cause(stepCtx), errTimeout) && ctx.Err() == nil {
			msg := fmt.Sprintf("timed out after %s (the plan's timeout)", timeout)
			x.Log.Line("── " + msg)
			_ = x.Note(ctx, fmt.Sprintf("step %d %s", i+1, msg))
			if code == 0 {
				code = 124
			}
		}
		if err := x.StepEnded(ctx, i+1, code, time.Since(began)); err != nil {
			return 0, err
		}
		if ctx.Err() != nil {
			return code, nil // cancelled; the worker reads the cause
		}
		if code != 0 {
			return code, nil
		}
	}
	return 0, nil
}

var errTimeout = errors.New("job timed out")

func (r *Runner) environ(stepEnv map[string]string, ws string) []string {
	pass := append([]string{"PATH", "HOME", "LANG", "TZ", "USER"}, r.cfg.PassEnv...)
	var env []string
	for _, k := range pass {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, "TMPDIR="+ws, "CI=true", "GANTRY=1")
	keys := make([]string, 0, len(stepEnv))
	for k := range stepEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+stepEnv[k])
	}
	return env
}

// step runs one command with bash in its own process group, its output
// going to out, and returns its exit code. When ctx ends, the group gets
// SIGTERM, then SIGKILL after the grace period. Nothing of the group is
// left when it returns.
func (r *Runner) step(ctx context.Context, script, dir string, env []string, out io.Writer) (int, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("make output pipe: %w", err)
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdin = nil
	cmd.Stdout = pw
	cmd.Stderr = pw
	// A new process group, so cancel reaches everything the step started;
	// and if gantry itself is killed, the step dies with it rather than run
	// on beside the worker that takes the job over.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return 0, fmt.Errorf("start bash: %w", err)
	}
	pw.Close()
	pgid := cmd.Process.Pid
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(out, pr)
	}()
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()

	select {
	case <-exited:
	case <-ctx.Done():
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(r.cfg.Grace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
	}
	// Whatever the step left in the background goes with it.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-copied
	pr.Close()

	var ee *exec.ExitError
	switch {
	case waitErr == nil:
		return 0, nil
	case errors.As(waitErr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	default:
		return 0, fmt.Errorf("wait for bash: %w", waitErr)
	}
}
