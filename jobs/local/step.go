package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// box holds the processes of one job, so that all of them can be ended
// whatever they did: a cgroup (cgroup.go), or a tracker (reaper.go).
type box interface {
	prepare(a *syscall.SysProcAttr) error // before a step starts
	started(pid int)                      // the step's bash
	signal(sig syscall.Signal)            // every process of the job
	empty() bool
	kill(within time.Duration) error // every process, waiting up to within for them to go
	close() error                    // kill what is left, remove what the box made
}

const (
	// killWait bounds the wait for killed processes to be gone.
	killWait = 3 * time.Second
	// drainWait bounds the wait for the rest of a step's output once all
	// its processes are dead; a reader past it means someone else holds
	// the pipe, and gantry stops reading.
	drainWait = 2 * time.Second
)

// step runs one command with bash in a session of its own, in b, its output
// going to out, and returns its exit code. When ctx ends, the job's
// processes get SIGTERM, then SIGKILL after the grace period (at once when
// the lease of the job is lost: another worker may start it). When the
// step ends, whatever it left in the background is killed. Nothing of the
// job runs when step returns.
func (r *Runner) step(ctx context.Context, b box, script, dir string, env []string, out io.Writer, logger *slog.Logger) (int, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("make output pipe: %w", err)
	}
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = pw
	cmd.Stderr = pw
	// If gantry itself is killed, bash dies with it; the rest of the job is
	// ended by its cgroup, or found by its token at the next start.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL, Credential: r.user.credential()}
	if err := b.prepare(cmd.SysProcAttr); err != nil {
		pr.Close()
		pw.Close()
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return 0, fmt.Errorf("start bash: %w", err)
	}
	pw.Close()
	b.started(cmd.Process.Pid)
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
		r.terminate(ctx, b, exited)
	}
	if err := b.kill(killWait); err != nil {
		logger.Error("kill what the step left", "err", err)
	}
	select {
	case <-exited:
	case <-time.After(killWait):
		return 0, fmt.Errorf("bash (pid %d) did not end after SIGKILL", cmd.Process.Pid)
	}
	drain(pr, copied, logger)
	return exitCode(waitErr)
}

// terminate asks the job's processes to stop and gives them the grace
// period to do so; the caller kills what is left. A job whose lease is lost
// gets no grace: another worker may start it once the lease lapses.
func (r *Runner) terminate(ctx context.Context, b box, exited <-chan struct{}) {
	if errors.Is(context.Cause(ctx), jobs.ErrLeaseLost) {
		return
	}
	b.signal(syscall.SIGTERM)
	deadline := time.After(r.cfg.Grace)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for bashGone := false; ; {
		select {
		case <-exited:
			bashGone, exited = true, nil
		case <-tick.C:
			if bashGone && b.empty() {
				return
			}
		case <-deadline:
			return
		}
	}
}

// drain waits for the rest of the output, for a bounded time: once the
// step's processes are dead the pipe ends at once, unless a process out of
// reach holds it.
func drain(pr *os.File, copied <-chan struct{}, logger *slog.Logger) {
	defer pr.Close()
	select {
	case <-copied:
		return
	case <-time.After(drainWait):
	}
	logger.Warn("the output of a step stays open after all its processes ended; gantry stops reading it")
	_ = pr.SetReadDeadline(time.Now())
	select {
	case <-copied:
	case <-time.After(drainWait):
		// The log itself is stuck; the copy ends when its write returns.
	}
}

func exitCode(waitErr error) (int, error) {
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
