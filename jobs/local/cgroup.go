package local

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A job's steps run in a cgroup v2 of their own where gantry may make one:
// no process of the job can leave it (an unprivileged step cannot write to
// any cgroup.procs), and cgroup.kill ends all of them at once, however
// they forked, setsid'd or double-forked. The cgroups are made beside
// gantry, as children of the cgroup gantry runs in (or of
// Config.CgroupParent), named gantry-job-ID-TOKEN so that a later gantry
// can sweep those of a dead one.

// cgroupParent returns the cgroup v2 directory job cgroups are made in:
// want if set, else the cgroup this process runs in. It checks that gantry
// may make a cgroup there and kill through it.
func cgroupParent(want string) (string, error) {
	dir := want
	if dir == "" {
		var err error
		if dir, err = ownCgroup(); err != nil {
			return "", err
		}
	}
	if err := probeCgroup(dir); err != nil {
		return "", fmt.Errorf("cgroup %s: %w", dir, err)
	}
	return dir, nil
}

// ownCgroup finds the directory of this process's cgroup on the cgroup v2
// hierarchy: the unified mount (/sys/fs/cgroup, or /sys/fs/cgroup/unified
// on hybrid hosts) joined with the path /proc/self/cgroup gives for
// hierarchy 0.
func ownCgroup() (string, error) {
	mount, root, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read own cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			rel, err := filepath.Rel(root, path)
			if err != nil || strings.HasPrefix(rel, "..") {
				return "", fmt.Errorf("own cgroup %s is outside the mounted cgroup2 tree %s", path, root)
			}
			return filepath.Join(mount, rel), nil
		}
	}
	return "", errors.New("this process is on no cgroup v2 hierarchy")
}

// cgroup2Mount returns where the cgroup v2 hierarchy is mounted, and which
// cgroup is the mount's root.
func cgroup2Mount() (mount, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("read mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent dev root mountpoint options [optional...] - fstype source super
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields := strings.Fields(pre)
		if !ok || len(fields) < 5 || !strings.HasPrefix(post, "cgroup2 ") {
			continue
		}
		return fields[4], fields[3], nil
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("read mounts: %w", err)
	}
	return "", "", errors.New("no cgroup2 file system is mounted")
}

// probeCgroup makes and removes a child of dir, to learn whether job
// cgroups can be made there and killed through cgroup.kill (Linux 5.14).
func probeCgroup(dir string) error {
	if err := syscall.Access(filepath.Join(dir, "cgroup.procs"), 2 /* W_OK */); err != nil {
		return fmt.Errorf("cannot move processes: %w", err)
	}
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	probe := filepath.Join(dir, "gantry-probe-"+hex.EncodeToString(nonce[:]))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return fmt.Errorf("cannot make a cgroup: %w", err)
	}
	defer os.Remove(probe)
	if _, err := os.Stat(filepath.Join(probe, "cgroup.kill")); err != nil {
		return fmt.Errorf("no cgroup.kill (Linux 5.14 or later is needed): %w", err)
	}
	return nil
}

// cgroupBox holds one job's processes in a cgroup, each step in a child
// cgroup of its own: the kernel kills whatever is cloned into a cgroup
// after its cgroup.kill was written, so a killed step's cgroup is not
// reused.
type cgroupBox struct {
	dir  string   // the job's cgroup
	step string   // the current step's, below it
	fd   *os.File // the step's cgroup, open while its bash is cloned into it
	n    int
}

func newCgroupBox(parent string, job int64, token string) (*cgroupBox, error) {
	dir := filepath.Join(parent, fmt.Sprintf("%s%d-%s", jobPrefix, job, token))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make cgroup for job #%d: %w", job, err)
	}
	return &cgroupBox{dir: dir}, nil
}

// prepare makes the step's cgroup, and has bash start in it (clone3 with
// CLONE_INTO_CGROUP): no instant of the step runs outside, so nothing it
// forks can get away before it is moved.
func (b *cgroupBox) prepare(a *syscall.SysProcAttr) error {
	b.closeFD()
	b.n++
	b.step = filepath.Join(b.dir, "step-"+strconv.Itoa(b.n))
	if err := os.Mkdir(b.step, 0o755); err != nil {
		return fmt.Errorf("make cgroup for step %d: %w", b.n, err)
	}
	fd, err := os.Open(b.step)
	if err != nil {
		return fmt.Errorf("open cgroup of step %d: %w", b.n, err)
	}
	b.fd = fd
	a.UseCgroupFD = true
	a.CgroupFD = int(fd.Fd())
	return nil
}

func (b *cgroupBox) started(int) { b.closeFD() }

func (b *cgroupBox) closeFD() {
	if b.fd != nil {
		b.fd.Close()
		b.fd = nil
	}
}

// signal sends sig to every process of the job, in whatever cgroup below
// the job's it is.
func (b *cgroupBox) signal(sig syscall.Signal) {
	_ = filepath.WalkDir(b.dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			for _, pid := range cgroupProcs(p) {
				_ = syscall.Kill(pid, sig)
			}
		}
		return nil
	})
}

func (b *cgroupBox) empty() bool { return !cgroupPopulated(b.dir) }

// kill ends every process of the step, waits up to within for them to be
// gone, and removes the step's cgroup.
func (b *cgroupBox) kill(within time.Duration) error {
	if b.step == "" {
		return nil
	}
	if err := killCgroup(b.step, within); err != nil {
		return err
	}
	err := removeCgroup(b.step)
	b.step = ""
	return err
}

// close kills what is left of the job and removes its cgroup.
func (b *cgroupBox) close() error {
	b.closeFD()
	err := killCgroup(b.dir, killWait)
	return errors.Join(err, removeCgroup(b.dir))
}

// removeCgroup removes dir and any cgroups a step (running as root) made
// below it, deepest first; all of them must be empty.
func removeCgroup(dir string) error {
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeCgroup(filepath.Join(dir, e.Name())))
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
	}
	return errors.Join(errs...)
}

// killCgroup writes cgroup.kill, which the kernel applies to every process
// of the cgroup and its children, also those forked meanwhile, then waits
// for the cgroup to empty.
func killCgroup(dir string, within time.Duration) error {
	if err := os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0); err != nil {
		return fmt.Errorf("kill cgroup %s: %w", dir, err)
	}
	if !waitFor(within, func() bool { return !cgroupPopulated(dir) }) {
		return fmt.Errorf("cgroup %s still has processes %v after %s", dir, cgroupProcs(dir), within)
	}
	return nil
}

// cgroupPopulated reads cgroup.events: "populated 1" while a process is in
// the cgroup or below it. Zombies do not count.
func cgroupPopulated(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false // the cgroup is gone
	}
	return strings.Contains(string(b), "populated 1")
}

func cgroupProcs(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitFor polls cond until it holds or within has passed, and reports
// whether it held.
func waitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}
