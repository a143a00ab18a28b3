package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Redis side of a run: redis-server processes on free loopback ports,
// each in a directory of its own, ended with the run. A single server keeps
// an append-only file; a Sentinel setup is a master, one replica and three
// sentinels, as internal/redistest builds for tests.

// masterName is what the sentinels monitor.
const masterName = "gantry"

// server is one redis-server process.
type server struct {
	dir  string
	port int
	args []string // without --port
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startServer runs redis-server with args in dir on a free port and
// returns once that process answers.
func startServer(dir string, args ...string) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &server{dir: dir, args: args}
	for attempt := 0; attempt < 5; attempt++ {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s.port = port
		if err := s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redis-server in %s did not start (see its redis.log)", dir)
}

// start runs the server on its port and waits until it answers as itself.
func (s *server) start() error {
	args := append(append([]string{}, s.args...), "--port", strconv.Itoa(s.port))
	s.cmd = exec.Command("redis-server", args...)
	s.cmd.Dir = s.dir
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	want := strconv.Itoa(s.cmd.Process.Pid)
	err := waitFor(10*time.Second, func() error {
		select {
		case <-s.done:
			return errStop
		default:
		}
		info, err := command(s.addr(), "INFO", "server")
		if err != nil {
			return err
		}
		if infoField(fmt.Sprint(info), "process_id") != want {
			return errors.New("another process answers on the port")
		}
		return nil
	})
	if err != nil {
		s.kill()
	}
	return err
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// kill ends the server at once (SIGKILL), as a crash would.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// startAgain starts a killed server on the same port, with the same
// directory and so the same append-only file.
func (s *server) startAgain() error {
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the port may linger a moment
	}
	return err
}

// signal sends sig to the server (SIGSTOP freezes it, SIGCONT wakes it).
func (s *server) signal(sig syscall.Signal) error {
	if s.cmd == nil {
		return errors.New("redis-server is not running")
	}
	return s.cmd.Process.Signal(sig)
}

// dataArgs are the options of a data node in dir.
func dataArgs(dir string, aof bool, fsync string) []string {
	args := []string{"--bind", "127.0.0.1", "--dir", dir, "--logfile", "redis.log", "--daemonize", "no", "--save", ""}
	if aof {
		return append(args, "--appendonly", "yes", "--appendfsync", fsync)
	}
	return append(args, "--appendonly", "no")
}

// sentinelSetup is a master with one replica, watched by three sentinels
// (quorum 2) that fail over a second after the master stops answering.
type sentinelSetup struct {
	data      map[string]*server // master and replica by address
	sentinels []*server
}

func startSentinelSetup(dir string) (*sentinelSetup, error) {
	st := &sentinelSetup{data: map[string]*server{}}
	master, err := startServer(filepath.Join(dir, "master"), dataArgs(filepath.Join(dir, "master"), false, "")...)
	if err != nil {
		return st, err
	}
	st.data[master.addr()] = master
	rdir := filepath.Join(dir, "replica")
	replica, err := startServer(rdir, append(dataArgs(rdir, false, ""), "--replicaof", "127.0.0.1", strconv.Itoa(master.port))...)
	if err != nil {
		return st, err
	}
	st.data[replica.addr()] = replica
	if err := waitFor(60*time.Second, func() error { return replicaInSync(replica.addr()) }); err != nil {
		return st, fmt.Errorf("replica: %w", err)
	}
	for i := range 3 {
		s, err := startSentinel(filepath.Join(dir, fmt.Sprintf("sentinel%d", i)), master.port)
		if err != nil {
			return st, err
		}
		st.sentinels = append(st.sentinels, s)
	}
	if err := waitFor(60*time.Second, st.watching); err != nil {
		return st, fmt.Errorf("sentinels: %w", err)
	}
	return st, nil
}

// startSentinel writes a sentinel's config (a sentinel rewrites its own)
// and runs it.
func startSentinel(dir string, masterPort int) (*server, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "sentinel.conf")
	text := fmt.Sprintf(`bind 127.0.0.1
dir %s
logfile redis.log
sentinel monitor %s 127.0.0.1 %d 2
sentinel down-after-milliseconds %[2]s 1000
sentinel failover-timeout %[2]s 5000
sentinel parallel-syncs %[2]s 1
`, dir, masterName, masterPort)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	return startServer(dir, conf, "--sentinel")
}

func replicaInSync(addr string) error {
	info, err := command(addr, "INFO", "replication")
	if err != nil {
		return err
	}
	if infoField(fmt.Sprint(info), "master_link_status") != "up" {
		return errors.New("replication link not up")
	}
	return nil
}

// watching reports nil once every sentinel knows the replica and the two
// other sentinels, so that a failover can happen.
func (st *sentinelSetup) watching() error {
	for _, s := range st.sentinels {
		replicas, err := command(s.addr(), "SENTINEL", "REPLICAS", masterName)
		if err != nil {
			return err
		}
		if rs, _ := replicas.([]any); len(rs) != 1 || !strings.Contains(fmt.Sprint(rs[0]), "master-link-status ok") {
			return fmt.Errorf("sentinel %s sees replicas %v", s.addr(), replicas)
		}
		others, err := command(s.addr(), "SENTINEL", "SENTINELS", masterName)
		if err != nil {
			return err
		}
		if known, _ := others.([]any); len(known) != len(st.sentinels)-1 {
			return fmt.Errorf("sentinel %s knows %d other sentinels", s.addr(), len(known))
		}
	}
	return nil
}

// sentinelAddrs are the sentinels' addresses.
func (st *sentinelSetup) sentinelAddrs() []string {
	out := make([]string, len(st.sentinels))
	for i, s := range st.sentinels {
		out[i] = s.addr()
	}
	return out
}

// master asks the sentinels for the master's address.
func (st *sentinelSetup) master() (string, error) {
	var err error
	for _, s := range st.sentinels {
		var v any
		if v, err = command(s.addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName); err == nil {
			if hp, _ := v.([]any); len(hp) == 2 {
				return fmt.Sprintf("%v:%v", hp[0], hp[1]), nil
			}
			err = fmt.Errorf("sentinel %s knows no master", s.addr())
		}
	}
	return "", err
}

// killMaster sends SIGKILL to the current master and returns its address.
func (st *sentinelSetup) killMaster() (string, error) {
	addr, err := st.master()
	if err != nil {
		return "", err
	}
	s := st.data[addr]
	if s == nil {
		return "", fmt.Errorf("the sentinels name master %s, which is not one of this setup's servers", addr)
	}
	s.kill()
	return addr, nil
}

// waitForFailover waits until every sentinel names a master other than
// old and that server says it is one; it returns its address.
func (st *sentinelSetup) waitForFailover(old string, within time.Duration) (string, error) {
	var promoted string
	err := waitFor(within, func() error {
		for _, s := range st.sentinels {
			v, err := command(s.addr(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName)
			if err != nil {
				return err
			}
			hp, _ := v.([]any)
			if len(hp) != 2 {
				return errors.New("no master")
			}
			if promoted = fmt.Sprintf("%v:%v", hp[0], hp[1]); promoted == old {
				return fmt.Errorf("sentinel %s still names %s", s.addr(), old)
			}
		}
		info, err := command(promoted, "INFO", "replication")
		if err != nil {
			return err
		}
		if role := infoField(fmt.Sprint(info), "role"); role != "master" {
			return fmt.Errorf("%s is still a %s", promoted, role)
		}
		return nil
	})
	return promoted, err
}

func (st *sentinelSetup) kill() {
	for _, s := range st.sentinels {
		s.kill()
	}
	for _, s := range st.data {
		s.kill()
	}
}

// command runs one command on addr over a short-lived connection (RESP2).
func command(addr string, args ...any) (any, error) {
	c := redis.NewClient(&redis.Options{
		Addr: addr, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: time.Second,
		MaxRetries: -1, PoolSize: 1, DisableIdentity: true, Protocol: 2,
	})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	return c.Do(ctx, args...).Result()
}

// infoField returns a field of an INFO reply.
func infoField(info, key string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			return v
		}
	}
	return ""
}

// errStop ends a waitFor at once.
var errStop = errors.New("gave up")

// waitFor polls ok every 100 ms until it returns nil, errStop or within
// has passed; it returns the last error.
func waitFor(within time.Duration, ok func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := ok()
		if err == nil || errors.Is(err, errStop) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s: %w", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
