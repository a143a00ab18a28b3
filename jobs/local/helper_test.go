package local_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/redis/go-redis/v9"
)

// TestMain lets the test binary act as a gantry process of its own, for
// what cannot be shown inside the test process: what a step sees of the
// environment gantry was started with (os.Setenv never reaches
// /proc/self/environ), and what a gantry killed with SIGKILL leaves.
func TestMain(m *testing.M) {
	if os.Getenv("GANTRY_PREVIEW_TEST_APP") == "1" {
		os.Exit(previewApp())
	}
	if os.Getenv("GANTRY_LOCAL_TEST_HELPER") == "1" {
		os.Exit(runHelper())
	}
	os.Exit(m.Run())
}

// runHelper runs one job of the test's Redis with the local runner, the
// log unredacted, and exits with its code (99 when it errored).
func runHelper() int {
	ctx := context.Background()
	s := jobs.NewStore(rdb.New(redis.NewClient(&redis.Options{Addr: os.Getenv("GANTRY_LOCAL_TEST_REDIS")})), jobs.StoreConfig{})
	id, _ := strconv.ParseInt(os.Getenv("GANTRY_LOCAL_TEST_JOB"), 10, 64)
	j, err := s.Get(ctx, id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 99
	}
	r := local.New(local.Config{
		User: os.Getenv("GANTRY_LOCAL_TEST_USER"), WorkDir: os.Getenv("GANTRY_LOCAL_TEST_WORKDIR"),
		CgroupParent: os.Getenv("GANTRY_LOCAL_TEST_CGROUP"),
	})
	w := jobs.NewLog(s, jobs.LogConfig{}, nil).Writer(ctx, id)
	code, err := r.Run(ctx, jobs.NewExecution(s, j, w))
	_ = w.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 99
	}
	return code
}

// helper is a gantry process started by a test.
type helper struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startHelper creates j on srv and starts a gantry process that runs it,
// with extra variables in its environment.
func startHelper(t *testing.T, srv *redistest.Server, j *jobs.Job, cfg local.Config, extra ...string) *helper {
	t.Helper()
	s := jobs.NewStore(srv.RDB(), jobs.StoreConfig{})
	if err := s.Create(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GANTRY_LOCAL_TEST_HELPER=1",
		"GANTRY_LOCAL_TEST_REDIS="+srv.Addr, "GANTRY_LOCAL_TEST_JOB="+strconv.FormatInt(j.ID, 10),
		"GANTRY_LOCAL_TEST_USER="+cfg.User, "GANTRY_LOCAL_TEST_WORKDIR="+cfg.WorkDir,
		"GANTRY_LOCAL_TEST_CGROUP="+cfg.CgroupParent)
	cmd.Env = append(cmd.Env, extra...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(h.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-h.done })
	return h
}

// wait waits for the helper to exit and returns its exit code.
func (h *helper) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-h.done:
		return h.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("the gantry process did not end within %s", within)
		return 0
	}
}

// uniqueSleep is an argument for sleep that no other process on the host
// has: "1000.<random>", a sleep of 1000 s that /proc can find.
func uniqueSleep(t *testing.T) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(1e9))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("1000.%09d", n.Int64())
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// running lists the live processes (not zombies) whose command line has
// arg as a word.
func running(arg string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !containsWord(cmdline, arg) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+2:])
		if state := rest[:1]; state != "Z" && state != "X" {
			out = append(out, e.Name()+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

func containsWord(cmdline []byte, arg string) bool {
	for _, w := range strings.Split(string(cmdline), "\x00") {
		if w == arg {
			return true
		}
	}
	return false
}

// waitUntil polls cond until it holds, failing the test after within.
func waitUntil(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not so after %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noneLeft waits up to within for no process with arg to be left, and
// fails the test with those left.
func noneLeft(t *testing.T, within time.Duration, args ...string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		var left []string
		for _, a := range args {
			left = append(left, running(a)...)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes left after %s: %v", within, left)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// workDir is a directory for workspaces that any user can reach, as /tmp
// is, removed when the test ends.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gantry-test-work-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// containments are the two ways the runner holds a job's processes.
var containments = []struct{ name, cgroupParent string }{
	{"cgroup", ""},
	{"subreaper", "none"},
}
