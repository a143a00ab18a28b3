package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Args: args, Getenv: func(string) string { return "" }, Stdout: &out, Stderr: &errOut}
	code := m.Run(context.Background())
	_ = m.Close()
	return code, out.String(), errOut.String()
}

func TestCheckPrintsWhatAValidFileWouldRun(t *testing.T) {
	code, out, errOut := runMain(t, "check", filepath.Join("..", "..", "examples", "hello", ".gantry.yml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"valid", "\npipeline branch\n", "\npipeline pr\n", "\ndeploy production\n", "./greet.sh world"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckNamesFileAndLineOfEachProblem(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".gantry.yml")
	os.WriteFile(path, []byte("timeout: soon\npipelines:\n  branch:\n    stpes: [make]\n"), 0o644)
	code, _, errOut := runMain(t, "check", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{path + ":1: ", path + ":4: unknown key \"stpes\""} {
		if !strings.Contains(errOut, want) {
			t.Errorf("errors lack %q:\n%s", want, errOut)
		}
	}
}

func TestCheckServerConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.yml")
	os.WriteFile(path, []byte("runner: {kind: lokal}\n"), 0o644)
	code, _, errOut := runMain(t, "check", path)
	if code != 1 || !strings.Contains(errOut, path+":1:") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestBadSettingStopsStartUpNamingIt(t *testing.T) {
	var errOut bytes.Buffer
	env := map[string]string{"REDIS_URL": "mysql://nope"}
	m := &Main{Args: []string{"worker"}, Getenv: func(k string) string { return env[k] }, Stdout: &bytes.Buffer{}, Stderr: &errOut}
	defer m.Close()
	if code := m.Run(context.Background()); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(errOut.String(), "gantry: REDIS_URL: not a valid redis:// or rediss:// URL") {
		t.Errorf("stderr: %s", errOut.String())
	}
}

// TestCheckHelperProcess is not a test: run by the tests below as a child
// process, it is gantry's real main with the arguments in
// GANTRY_CHECK_HELPER_ARGS, signal handling and all.
func TestCheckHelperProcess(t *testing.T) {
	args := os.Getenv("GANTRY_CHECK_HELPER_ARGS")
	if args == "" {
		return // only as a child process
	}
	os.Args = append([]string{"gantry"}, strings.Fields(args)...)
	main()
}

// startGantry runs gantry's main in a child process with args.
func startGantry(t *testing.T, args ...string) (*exec.Cmd, *syncBuffer, chan error) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCheckHelperProcess$")
	cmd.Env = append(os.Environ(), "GANTRY_CHECK_HELPER_ARGS="+strings.Join(args, " "))
	errOut := &syncBuffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd, errOut, done
}

// exitWithin waits for the child to end and returns its exit code.
func exitWithin(t *testing.T, done chan error, within time.Duration, errOut *syncBuffer) int {
	t.Helper()
	select {
	case err := <-done:
		done <- err // for the cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("gantry still runs after %s; stderr: %s", within, errOut)
		return -1
	}
}

// `gantry check /dev/zero` reads up to the limit, says so and exits: the
// real binary's main, not only the in-process Main.
func TestCheckRefusesEndlessInput(t *testing.T) {
	_, errOut, done := startGantry(t, "check", "/dev/zero")
	if code := exitWithin(t, done, 20*time.Second, errOut); code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", code, errOut)
	}
	want := "gantry check: /dev/zero holds more than 1048576 bytes (1 MiB), the most gantry reads of a file: stopped reading there"
	if !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr: %s\nwant: %s", errOut, want)
	}
}

// A regular file over the limit is refused by its size, unread.
func TestCheckRefusesOversizedFileBySize(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".gantry.yml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Truncate(path, 300<<20); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runMain(t, "check", path)
	want := "gantry check: " + path + " is 314572800 bytes; gantry reads files of at most 1048576 bytes (1 MiB)"
	if code != 1 || !strings.Contains(errOut, want) {
		t.Fatalf("exit %d: %s\nwant: %s", code, errOut, want)
	}
}

// openWriterOnceRead opens the FIFO's writing end as soon as someone has
// opened it for reading (before that, a non-blocking open fails), and keeps
// it open, silent, until the test ends.
func openWriterOnceRead(t *testing.T, fifo string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err == nil {
			t.Cleanup(func() { w.Close() })
			return
		}
		if !errors.Is(err, syscall.ENXIO) || time.Now().After(deadline) {
			t.Fatalf("the FIFO was not opened for reading: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func makeFIFO(t *testing.T) string {
	t.Helper()
	fifo := filepath.Join(t.TempDir(), ".gantry.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	return fifo
}

// A check waiting on input that never comes ends with its context.
func TestCheckStopsWhenItsContextEnds(t *testing.T) {
	fifo := makeFIFO(t)
	var errOut bytes.Buffer
	m := &Main{Getenv: func(string) string { return "" }, Stdout: &bytes.Buffer{}, Stderr: &errOut}
	ctx, cancel := context.WithCancel(context.Background())
	codes := make(chan int, 1)
	go func() { codes <- m.check(ctx, []string{fifo}) }()
	openWriterOnceRead(t, fifo)
	cancel()
	select {
	case code := <-codes:
		if code != 1 || !strings.Contains(errOut.String(), "stopped before "+fifo+" was read") {
			t.Errorf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("check still waits 10s after its context ended")
	}
}

// SIGTERM stops the real binary's check while it waits on a FIFO.
func TestCheckStopsOnSIGTERM(t *testing.T) {
	fifo := makeFIFO(t)
	cmd, errOut, done := startGantry(t, "check", fifo)
	openWriterOnceRead(t, fifo)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, done, 10*time.Second, errOut); code != 1 {
		t.Fatalf("exit %d, want 1; stderr: %s", code, errOut)
	}
}

// A server config is checked as one whatever its file is called, and each
// pipeline's header is printed once.
func TestCheckKnowsAServerConfigByItsContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "prod.yml")
	if err := os.WriteFile(path, []byte("repos:\n  app: {path: /srv/app}\nworkers: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runMain(t, "check", path)
	if code != 0 || !strings.Contains(out, "valid server config") {
		t.Fatalf("check prod.yml: exit %d\n%s%s", code, out, errOut)
	}
	_, out, _ = runMain(t, "check", filepath.Join("..", "..", "examples", "hello", ".gantry.yml"))
	if n := strings.Count(out, "pipeline branch"); n != 1 {
		t.Errorf("the branch pipeline's header is printed %d times:\n%s", n, out)
	}
}
