package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// A workspace is a directory WorkDir/gantry-job-ID-RANDOM holding
//
//	src/          the checkout; the steps' working directory
//	home/         HOME of a step user (only when steps run as one)
//	tmp/          TMPDIR
//	.gantry-lock  locked (flock) by the gantry process running the job
//
// The directory itself stays gantry's (mode 0711 when steps run as another
// user, so that they cannot remove the lock); src, home and tmp are handed
// to the step user. The kernel drops the lock when its holder dies, however
// it dies, which is how a sweep tells a dead gantry's workspace from a live
// one.
type workspace struct {
	dir  string
	lock *os.File
}

const (
	jobPrefix = "gantry-job-" // of workspaces and of job cgroups
	lockName  = ".gantry-lock"
	// unlockedAge is how old a workspace without a lock file must be before
	// a sweep takes it for abandoned: younger, it may be one being made.
	unlockedAge = time.Minute
)

func makeWorkspace(parent string, job int64) (*workspace, error) {
	dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-", jobPrefix, job))
	if err != nil {
		return nil, fmt.Errorf("make workspace for job #%d: %w", job, err)
	}
	w := &workspace{dir: dir}
	if err := w.takeLock(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("make workspace for job #%d: %w", job, err)
	}
	if err := os.Mkdir(w.tmp(), 0o700); err != nil {
		_ = w.remove()
		return nil, fmt.Errorf("make workspace for job #%d: %w", job, err)
	}
	return w, nil
}

func (w *workspace) takeLock() error {
	f, err := os.OpenFile(filepath.Join(w.dir, lockName), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	_, _ = f.WriteString(strconv.Itoa(os.Getpid()) + "\n") // for people looking
	w.lock = f
	return nil
}

func (w *workspace) src() string  { return filepath.Join(w.dir, "src") }
func (w *workspace) home() string { return filepath.Join(w.dir, "home") }
func (w *workspace) tmp() string  { return filepath.Join(w.dir, "tmp") }

// handTo gives src, home and tmp to the step user u (nil: gantry's own
// user runs the steps, and nothing changes hands). Ownership changes on
// links themselves, never on what they point to.
func (w *workspace) handTo(u *stepUser) error {
	if u == nil {
		return nil
	}
	if err := os.Chmod(w.dir, 0o711); err != nil {
		return fmt.Errorf("open workspace to %s: %w", u.name, err)
	}
	if err := os.Mkdir(w.home(), 0o700); err != nil {
		return fmt.Errorf("make home of %s: %w", u.name, err)
	}
	for _, d := range []string{w.src(), w.home(), w.tmp()} {
		err := filepath.WalkDir(d, func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(p, int(u.uid), int(u.gid))
		})
		if err != nil {
			return fmt.Errorf("hand workspace to %s: %w", u.name, err)
		}
	}
	return nil
}

// remove deletes the workspace, then lets go of its lock.
func (w *workspace) remove() error {
	err := removeTree(w.dir)
	if w.lock != nil {
		w.lock.Close()
	}
	return err
}

// removeTree removes dir. A step running as gantry's own user may have
// taken the write permission off its directories; as root that does not
// matter, otherwise the permissions are given back first. (Never as root:
// chmod follows links.)
func removeTree(dir string) error {
	err := os.RemoveAll(dir)
	if err == nil || os.Geteuid() == 0 {
		return err
	}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// abandonedWorkspace reports whether dir is a workspace whose gantry is
// gone. When it is, the returned file holds its lock until closed, so that
// two sweeps do not race.
func abandonedWorkspace(dir string) (bool, *os.File) {
	f, err := os.Open(filepath.Join(dir, lockName))
	if errors.Is(err, os.ErrNotExist) {
		info, err := os.Stat(dir)
		return err == nil && time.Since(info.ModTime()) > unlockedAge, nil
	}
	if err != nil {
		return false, nil
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false, nil // its gantry lives
	}
	return true, f
}
