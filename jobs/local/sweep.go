package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Sweep ends what a gantry that died before its jobs ended (kill -9, a
// crash, a lost host) left behind: its job cgroups are killed and removed,
// processes carrying its job tokens are killed, and workspaces under
// WorkDir that no live gantry holds are removed. The jobs of live gantry
// processes, this one's included, are left alone, so several gantry
// processes may share a host. Call it when the worker starts.
func (r *Runner) Sweep(ctx context.Context) error {
	cgroups, err1 := r.sweepCgroups()
	procs, err2 := r.sweepProcesses(ctx)
	dirs, err3 := r.sweepWorkspaces()
	if cgroups+procs+dirs > 0 {
		r.logger.Info("swept what a stopped gantry left behind",
			"cgroups", cgroups, "processes", procs, "workspaces", dirs)
	}
	return errors.Join(err1, err2, err3)
}

// sweepCgroups kills and removes the job cgroups of dead gantry processes.
func (r *Runner) sweepCgroups() (int, error) {
	if r.cgroups == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(r.cgroups)
	if err != nil {
		return 0, fmt.Errorf("sweep cgroups: %w", err)
	}
	var errs []error
	n := 0
	for _, e := range entries {
		o, ok := cgroupOwner(e.Name())
		if !e.IsDir() || !ok || o.alive() {
			continue
		}
		dir := filepath.Join(r.cgroups, e.Name())
		if err := errors.Join(killCgroup(dir, killWait), removeCgroup(dir)); err != nil {
			errs = append(errs, fmt.Errorf("sweep cgroup %s: %w", dir, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// cgroupOwner parses gantry-job-ID-TOKEN.
func cgroupOwner(name string) (owner, bool) {
	rest, ok := strings.CutPrefix(name, jobPrefix)
	if !ok {
		return owner{}, false
	}
	_, token, ok := strings.Cut(rest, "-")
	if !ok {
		return owner{}, false
	}
	return tokenOwner(token)
}

// sweepProcesses kills the processes whose job token names a dead gantry:
// those a step left where no cgroup held them.
func (r *Runner) sweepProcesses(ctx context.Context) (int, error) {
	spare := ancestors()
	var victims []procInfo
	for pid, p := range processes() {
		if spare[pid] || p.dead() {
			continue
		}
		o, ok := tokenOwner(tokenOf(pid))
		if ok && !o.alive() {
			victims = append(victims, p)
		}
	}
	if len(victims) == 0 {
		return 0, nil
	}
	for _, p := range victims {
		_ = signalExact(p, syscall.SIGKILL)
	}
	gone := func() bool {
		left := false
		for _, p := range victims {
			now, err := readProc(p.pid)
			if err != nil || now.start != p.start {
				continue
			}
			if now.dead() {
				reap(now) // re-parented to this gantry, its subreaper
				continue
			}
			left = true
		}
		return !left || ctx.Err() != nil
	}
	if !waitFor(killWait, gone) {
		return len(victims), fmt.Errorf("sweep processes: some of %d left by a stopped gantry survive SIGKILL", len(victims))
	}
	return len(victims), nil
}

// ancestors is this process and every process above it: never swept, even
// when gantry itself runs in a step of a gantry that died.
func ancestors() map[int]bool {
	out := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !out[pid]; {
		out[pid] = true
		p, err := readProc(pid)
		if err != nil {
			break
		}
		pid = p.ppid
	}
	return out
}

// sweepWorkspaces removes the workspaces under WorkDir whose gantry is gone.
func (r *Runner) sweepWorkspaces() (int, error) {
	parent := r.cfg.WorkDir
	if parent == "" {
		parent = os.TempDir()
	}
	entries, err := os.ReadDir(parent)
	if err != nil {
		return 0, fmt.Errorf("sweep workspaces: %w", err)
	}
	var errs []error
	n := 0
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), jobPrefix) {
			continue
		}
		dir := filepath.Join(parent, e.Name())
		dead, lock := abandonedWorkspace(dir)
		if !dead {
			continue
		}
		if err := removeTree(dir); err != nil {
			errs = append(errs, fmt.Errorf("sweep workspace: %w", err))
		} else {
			n++
		}
		if lock != nil {
			lock.Close()
		}
	}
	return n, errors.Join(errs...)
}
