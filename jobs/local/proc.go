package local

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The local runner finds the processes of a job through /proc: what
// /proc/PID/stat says of a process, and the job token every step carries in
// its environment. These helpers read both.

// tokenVar marks every process a step starts: its value names the job's
// run and the gantry process that owns it, so that a later gantry can tell
// leftovers of a dead one from the jobs of a live one.
const tokenVar = "GANTRY_JOB_TOKEN"

// procInfo is what /proc/PID/stat says of one process.
type procInfo struct {
	pid, ppid, pgrp, sid int
	state                byte   // R, S, D, Z, ...
	start                uint64 // clock ticks after boot; with pid, it names one process
}

func (p procInfo) dead() bool { return p.state == 'Z' || p.state == 'X' }

// readProc reads /proc/PID/stat.
func readProc(pid int) (procInfo, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, err
	}
	return parseStat(pid, b)
}

// parseStat parses a /proc/PID/stat line. The command name is in
// parentheses and may hold spaces and parentheses itself, so the fields
// are counted from the last ')'.
func parseStat(pid int, b []byte) (procInfo, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return procInfo{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+2:]))
	// state ppid pgrp session tty tpgid flags minflt cminflt majflt
	// cmajflt utime stime cutime cstime priority nice threads itrealvalue
	// starttime: starttime is the 20th field after the name.
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	p := procInfo{pid: pid, state: f[0][0]}
	var errs [4]error
	p.ppid, errs[0] = strconv.Atoi(f[1])
	p.pgrp, errs[1] = strconv.Atoi(f[2])
	p.sid, errs[2] = strconv.Atoi(f[3])
	p.start, errs[3] = strconv.ParseUint(f[19], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return procInfo{}, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return p, nil
}

// processes lists every process it can read, by pid.
func processes() map[int]procInfo {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := make(map[int]procInfo, len(entries))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, err := readProc(pid); err == nil {
			out[pid] = p
		}
	}
	return out
}

// tokenOf returns the job token in the environment process pid started
// with, "" when it has none or its environment cannot be read (another
// user's process while gantry is not root).
func tokenOf(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		return ""
	}
	prefix := []byte(tokenVar + "=")
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := bytes.CutPrefix(kv, prefix); ok {
			return string(v)
		}
	}
	return ""
}

// owner names one gantry process across pid reuse.
type owner struct {
	pid   int
	start uint64
}

func currentOwner() (owner, error) {
	p, err := readProc(os.Getpid())
	if err != nil {
		return owner{}, fmt.Errorf("read own process: %w", err)
	}
	return owner{pid: p.pid, start: p.start}, nil
}

// alive reports whether the process o names still runs.
func (o owner) alive() bool {
	p, err := readProc(o.pid)
	return err == nil && p.start == o.start && !p.dead()
}

// newToken makes the token of one run of a job: "PID.START.NONCE" of its
// owner. It also names the run's cgroup.
func newToken(o owner) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%d.%d.%s", o.pid, o.start, hex.EncodeToString(b[:]))
}

// tokenOwner parses the owner out of a token.
func tokenOwner(token string) (owner, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[2] == "" {
		return owner{}, false
	}
	pid, err1 := strconv.Atoi(parts[0])
	start, err2 := strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return owner{}, false
	}
	return owner{pid: pid, start: start}, true
}

const (
	sysPidfdOpen       = 434 // pidfd_open(2), the same number on every Linux arch
	sysPidfdSendSignal = 424 // pidfd_send_signal(2)
)

// signalExact sends sig to the process p names and to no other: it holds
// the process through a pidfd and checks its start time before it signals,
// so a pid reused since p was read is left alone.
func signalExact(p procInfo, sig syscall.Signal) error {
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(p.pid), 0, 0)
	if errno == syscall.ENOSYS {
		return signalByPid(p, sig) // kernels before 5.3
	}
	if errno != 0 {
		return errno
	}
	defer syscall.Close(int(fd))
	now, err := readProc(p.pid)
	if err != nil || now.start != p.start {
		return syscall.ESRCH
	}
	if _, _, errno := syscall.Syscall6(sysPidfdSendSignal, fd, uintptr(sig), 0, 0, 0, 0); errno != 0 {
		return errno
	}
	return nil
}

func signalByPid(p procInfo, sig syscall.Signal) error {
	now, err := readProc(p.pid)
	if err != nil || now.start != p.start {
		return syscall.ESRCH
	}
	return syscall.Kill(p.pid, sig)
}

// reap collects the exit status of p if it is a dead child of this process
// (an orphan of a job that was re-parented here), so that it does not stay
// a zombie. It never waits for a live process.
func reap(p procInfo) {
	if p.ppid != os.Getpid() {
		return
	}
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(p.pid, &ws, syscall.WNOHANG, nil)
}
