package local

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// Where no cgroup can be made (a container with a read-only cgroup mount,
// a host on cgroup v1), gantry keeps track of a job's processes itself. It
// becomes a child subreaper, so that what a step leaves behind is
// re-parented to gantry rather than to init, and it counts as the job's:
//
//   - the step's session and process group (bash starts in a new session),
//   - every process whose environment carries the job's token,
//   - every descendant of those, and every process ever seen as one of the
//     above while it was (a tracker looks every trackEvery).
//
// A step that clears its environment and leaves its session within one
// tracker interval can escape this; the cgroup cannot be escaped. Use a
// host where gantry may make cgroups for untrusted code.

const trackEvery = 200 * time.Millisecond

// prSetChildSubreaper is prctl(2)'s PR_SET_CHILD_SUBREAPER.
const prSetChildSubreaper = 36

func becomeSubreaper() error {
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0, 0, 0, 0); errno != 0 {
		return fmt.Errorf("become a child subreaper: %w", errno)
	}
	return nil
}

// reaperBox finds one job's processes through /proc.
type reaperBox struct {
	token string

	mu      sync.Mutex
	leader  int          // the running step's bash, 0 between steps
	leaders map[int]bool // every step's bash: os/exec reaps those, never we
	known   map[int]uint64

	stop chan struct{}
	done chan struct{}
}

func newReaperBox(token string) *reaperBox {
	b := &reaperBox{token: token, leaders: map[int]bool{}, known: map[int]uint64{},
		stop: make(chan struct{}), done: make(chan struct{})}
	go b.track()
	return b
}

func (b *reaperBox) prepare(*syscall.SysProcAttr) error { return nil }

func (b *reaperBox) started(pid int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leader = pid
	b.leaders[pid] = true
}

// track records the job's processes while they are still linked to it,
// and reaps those that died re-parented to gantry.
func (b *reaperBox) track() {
	defer close(b.done)
	t := time.NewTicker(trackEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.scan()
		}
	}
}

// scan lists the job's processes now, zombies included, remembers them and
// reaps the zombies that are gantry's children.
func (b *reaperBox) scan() []procInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	all := processes()
	self := os.Getpid()
	in := map[int]bool{}
	for pid, p := range all {
		if pid == self || pid == 1 {
			continue
		}
		if start, ok := b.known[pid]; ok && start == p.start ||
			b.leader != 0 && (p.sid == b.leader || p.pgrp == b.leader) ||
			!p.dead() && tokenOf(pid) == b.token {
			in[pid] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for pid, p := range all {
			if !in[pid] && in[p.ppid] && pid != self {
				in[pid], changed = true, true
			}
		}
	}
	b.known = make(map[int]uint64, len(in))
	members := make([]procInfo, 0, len(in))
	for pid := range in {
		p := all[pid]
		b.known[pid] = p.start
		members = append(members, p)
		if p.dead() && !b.leaders[pid] {
			reap(p)
		}
	}
	return members
}

func (b *reaperBox) live() []procInfo {
	var out []procInfo
	for _, p := range b.scan() {
		if !p.dead() {
			out = append(out, p)
		}
	}
	return out
}

func (b *reaperBox) signal(sig syscall.Signal) {
	for _, p := range b.live() {
		_ = signalExact(p, sig)
	}
}

func (b *reaperBox) empty() bool { return len(b.live()) == 0 }

// kill stops every process of the job (so none forks meanwhile), then
// kills them, until none is left or within has passed.
func (b *reaperBox) kill(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		live := b.freeze()
		if len(live) == 0 {
			b.mu.Lock()
			b.leader = 0 // the step is over; its pid may be reused
			b.mu.Unlock()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes of the job are left after %s", len(live), within)
		}
		for _, p := range live {
			_ = signalExact(p, syscall.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freeze sends SIGSTOP to the job's processes until a scan finds no new
// one, and returns them.
func (b *reaperBox) freeze() []procInfo {
	stopped := map[int]bool{}
	var live []procInfo
	for range 20 {
		live = b.live()
		fresh := 0
		for _, p := range live {
			if !stopped[p.pid] {
				_ = signalExact(p, syscall.SIGSTOP)
				stopped[p.pid] = true
				fresh++
			}
		}
		if fresh == 0 {
			break
		}
	}
	return live
}

// close ends what is left of the job and stops the tracker.
func (b *reaperBox) close() error {
	err := b.kill(killWait)
	close(b.stop)
	<-b.done
	b.scan() // reap the last zombies
	return err
}
