// Package redistest gives tests a Redis of their own.
//
// Each call to Start runs a fresh redis-server on a free loopback port and
// stops it when the test ends, so tests in different packages never see each
// other's keys. Where no redis-server binary is installed the test fails,
// saying how to get one (./test.sh installs it): a missing service is never
// hidden. Only GANTRY_TEST_EMBEDDED_REDIS=1 asks for the in-process
// miniredis instead, for a quick run where redis-server cannot be had.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Server is one Redis started for a test.
type Server struct {
	Addr string
	// Real is false when the embedded fallback is in use.
	Real bool

	t    testing.TB
	dir  string
	cmd  *exec.Cmd
	mini *miniredis.Miniredis
}

// Start runs a Redis for the test and registers its shutdown.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("GANTRY_TEST_EMBEDDED_REDIS") != "1" {
			t.Fatalf("redis-server not found on PATH: the tests run against a real Redis; ./test.sh installs it (Debian: apt-get install redis-server), or GANTRY_TEST_EMBEDDED_REDIS=1 runs them on the embedded miniredis")
		}
		m := miniredis.RunT(t)
		fmt.Fprintf(os.Stderr, "redistest: GANTRY_TEST_EMBEDDED_REDIS=1: %s uses the embedded miniredis, not a real Redis\n", t.Name())
		return &Server{Addr: m.Addr(), t: t, mini: m}
	}
	s := &Server{t: t, Real: true, dir: t.TempDir()}
	s.start(bin, 0)
	t.Cleanup(s.stop)
	return s
}

func (s *Server) start(bin string, port int) {
	s.t.Helper()
	for attempt := 0; attempt < 5; attempt++ {
		p := port
		if p == 0 {
			p = freePort(s.t)
		}
		cmd := exec.Command(bin,
			"--port", strconv.Itoa(p), "--bind", "127.0.0.1",
			"--dir", s.dir, "--save", "", "--appendonly", "yes",
			"--appendfsync", "always", "--daemonize", "no", "--loglevel", "warning")
		if err := cmd.Start(); err != nil {
			s.t.Fatalf("start redis-server: %v", err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if waitReady(addr, 5*time.Second) {
			s.cmd, s.Addr = cmd, addr
			return
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	s.t.Fatalf("redis-server did not become ready")
}

func (s *Server) stop() {
	if s.cmd != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Restart kills the server and starts it again on the same port with the
// same append-only file, as a Redis with persistence would come back.
func (s *Server) Restart() {
	s.t.Helper()
	if !s.Real {
		s.t.Fatalf("Restart needs a real redis-server")
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	bin := s.cmd.Path
	s.stop()
	s.start(bin, p)
}

// URL is the server's address as a REDIS_URL.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Client returns a client for the server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.t.Cleanup(func() { _ = c.Close() })
	return c
}

// RDB returns gantry's Redis layer client for the server, closed when the
// test ends.
func (s *Server) RDB() *rdb.Client { return rdb.New(s.Client()) }

// Client is Start followed by Server.Client, for tests that need only a client.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	return Start(t).Client()
}

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitReady(addr string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			fmt.Fprint(c, "PING\r\n")
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "+PONG\r\n" {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Stop kills the server, as a crash would; its append-only file stays, for
// StartAgain. Clients see connections refused until then.
func (s *Server) Stop() {
	s.t.Helper()
	if !s.Real {
		s.t.Fatalf("Stop needs a real redis-server")
	}
	s.stop()
}

// StartAgain starts a stopped server on its port with its append-only file.
func (s *Server) StartAgain() {
	s.t.Helper()
	if !s.Real {
		s.t.Fatalf("StartAgain needs a real redis-server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		s.t.Fatalf("find redis-server: %v", err)
	}
	_, port, _ := net.SplitHostPort(s.Addr)
	p, _ := strconv.Atoi(port)
	s.start(bin, p)
}

// Pause freezes the server (SIGSTOP): connections are accepted by the
// kernel and commands are sent, but nothing is answered until Continue, when
// the server runs what piled up, late. This is the fault that makes a
// client's timed-out retries land twice.
func (s *Server) Pause() {
	s.t.Helper()
	s.sendSignal(syscall.SIGSTOP)
}

// Continue wakes a paused server (SIGCONT).
func (s *Server) Continue() {
	s.t.Helper()
	s.sendSignal(syscall.SIGCONT)
}

func (s *Server) sendSignal(sig syscall.Signal) {
	s.t.Helper()
	if !s.Real || s.cmd == nil {
		s.t.Fatalf("signal %v needs a running real redis-server", sig)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal redis-server: %v", err)
	}
}
