package redistest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fatalTB records a Fatalf instead of failing the test that holds it.
type fatalTB struct {
	testing.TB
	fatal string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.fatal = format
	runtime.Goexit()
}

// TestNoRedisServerFailsRatherThanFallsBack: without redis-server the
// tests used to run quietly on the embedded miniredis.
func TestNoRedisServerFailsRatherThanFallsBack(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GANTRY_TEST_EMBEDDED_REDIS", "")
	tb := &fatalTB{TB: t}
	done := make(chan *Server)
	go func() {
		defer close(done)
		done <- Start(tb)
	}()
	if s := <-done; s != nil {
		t.Fatalf("Start without redis-server gave a Redis at %s (real: %v)", s.Addr, s.Real)
	}
	if !strings.Contains(tb.fatal, "redis-server not found on PATH") || !strings.Contains(tb.fatal, "./test.sh installs it") {
		t.Errorf("the failure does not say what to do: %q", tb.fatal)
	}

	// Asked for, the embedded Redis is what the test gets.
	t.Setenv("GANTRY_TEST_EMBEDDED_REDIS", "1")
	if s := Start(t); s.Real || s.Client().Ping(t.Context()).Err() != nil {
		t.Errorf("GANTRY_TEST_EMBEDDED_REDIS=1: real %v", s.Real)
	}
}

// TestTestScriptNamesWhatIsMissingWhenItCannotInstall: the README's test
// command on a machine where it may not install says what to install.
func TestTestScriptNamesWhatIsMissingWhenItCannotInstall(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"bash", "dirname", "grep", "go", "git"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	// Not root, and no sudo: nothing may be installed.
	if err := os.WriteFile(filepath.Join(bin, "id"), []byte("#!/bin/sh\necho 1000\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "bash"), filepath.Join("..", "..", "test.sh"))
	cmd.Env = append(os.Environ(), "PATH="+bin)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("test.sh ran without redis-server:\n%s", out)
	}
	for _, want := range []string{"the tests need: redis-server redis-tools chromium", "sudo apt-get install redis-server redis-tools chromium"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("test.sh said:\n%s\nwant it to say %q", out, want)
		}
	}
}
