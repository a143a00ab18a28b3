package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
)

// syncBuffer is an output a test can read while the program writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// consoleSession is gantry's console running in-process, with a pipe to
// type into and its output to read, against a real Redis.
type consoleSession struct {
	t      *testing.T
	in     *io.PipeWriter
	out    *syncBuffer
	errOut *syncBuffer
	done   chan int
	m      *Main
}

func startConsole(t *testing.T, env map[string]string) *consoleSession {
	t.Helper()
	srv := redistest.Start(t)
	if env == nil {
		env = map[string]string{}
	}
	env["REDIS_URL"] = srv.URL()
	env["USER"] = "alice"
	pr, pw := io.Pipe()
	s := &consoleSession{t: t, in: pw, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	m := &Main{Args: []string{"console"}, Getenv: func(k string) string { return env[k] }, Stdin: pr, Stdout: s.out, Stderr: s.errOut}
	s.m = m
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		pw.Close()
		select {
		case <-s.done:
		case <-time.After(20 * time.Second):
			t.Error("console did not stop")
		}
		_ = m.Close()
		if t.Failed() {
			t.Logf("stdout:\n%s\nstderr:\n%s", s.out, s.errOut)
		}
	})
	return s
}

func (s *consoleSession) typeLine(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\n"); err != nil {
		s.t.Fatal(err)
	}
}

// waitFor waits until the output matches the regular expression re.
func (s *consoleSession) waitFor(re string, within time.Duration) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := rx.FindString(s.out.String()); m != "" {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("the console never printed %q", re)
	return ""
}

func examples(name string) string { return filepath.Join("..", "..", "examples", name) }

func TestConsoleBuildStreamsLogAndSucceeds(t *testing.T) {
	s := startConsole(t, nil)
	s.typeLine("build " + examples("hello"))
	s.waitFor(`gantry > Queued #1: build \.\./\.\./examples/hello`, 5*time.Second)
	s.waitFor(`#1 +│ hello from job 1 \(\.\./\.\./examples/hello\)`, 10*time.Second)
	s.waitFor(`#1 +│ hello, world \(3 of 3\)`, 10*time.Second)
	s.waitFor(`#1 +┃ ✅ #1 succeeded in \S+`, 10*time.Second)
	out := s.out.String()
	// Log lines come before the verdict.
	if strings.Index(out, "hello, world (3 of 3)") > strings.Index(out, "✅ #1 succeeded") {
		t.Error("the verdict was printed before the last log line")
	}
}

func TestConsoleFailingStepEndsFailedWithExitCode(t *testing.T) {
	s := startConsole(t, nil)
	s.typeLine("build " + examples("failing"))
	s.waitFor(`#1 +│ this one fails`, 10*time.Second)
	s.waitFor(`❌ #1 failed in \S+ \(exit code 3\): step 2 \(echo "this one fails" >&2; exit 3\) failed`, 10*time.Second)
	if strings.Contains(s.out.String(), "never reached") {
		t.Error("a step after the failing one ran")
	}
}

func TestConsoleCancelStopsSleepingStep(t *testing.T) {
	s := startConsole(t, nil)
	dir := stepDir(t)
	pidFile := filepath.Join(dir, "pid")
	spec := "pipelines:\n  branch:\n    steps:\n      - echo $$ > " + pidFile + "; echo sleeping; sleep 300\n"
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s.typeLine("build " + dir)
	s.waitFor(`#1 +│ sleeping`, 10*time.Second)
	s.typeLine("cancel #1")
	s.waitFor(`gantry > Stopping #1…`, 5*time.Second)
	s.waitFor(`🚫 #1 cancelled in \S+: cancelled by alice`, 15*time.Second)
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pgid := strings.TrimSpace(string(b))
	if left := groupMembers(pgid); len(left) > 0 {
		t.Errorf("processes of the cancelled step are left: %v", left)
	}
}

// groupMembers lists live (non-zombie) processes in process group pgid.
func groupMembers(pgid string) []string {
	var live []string
	for try := 0; try < 40; try++ {
		live = live[:0]
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
			if err != nil {
				continue
			}
			f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
			if len(f) > 2 && f[2] == pgid && f[0] != "Z" {
				live = append(live, e.Name())
			}
		}
		if len(live) == 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return live
}

func TestConsoleInvalidSpecIsAnsweredWithFileAndLine(t *testing.T) {
	s := startConsole(t, nil)
	dir := filepath.Join(t.TempDir(), "broken")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := "pipelines:\n  branch:\n    stpes: [make]\n"
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	s.typeLine("build " + dir)
	s.waitFor(`nothing was queued: the file is not valid`, 5*time.Second)
	s.waitFor(regexp.QuoteMeta(dir+"/.gantry.yml:3:")+` unknown key "stpes"`, time.Second)
	s.typeLine("queue")
	s.waitFor(`gantry > Nothing is queued or running\.`, 5*time.Second)
	s.typeLine("status #1")
	s.waitFor(`gantry > there is no job #1`, 5*time.Second)
}

func TestConsoleUnknownCommandGetsUsage(t *testing.T) {
	s := startConsole(t, nil)
	s.typeLine("frobnicate")
	s.waitFor(`gantry > I don't know “frobnicate”`, 5*time.Second)
	s.typeLine("biuld examples/hello")
	s.waitFor(`[Dd]id you mean “build”`, 5*time.Second)
	s.typeLine("deploy")
	s.waitFor(`usage: deploy`, 5*time.Second)
}

func TestConsolePipedInputWaitsForJobsThenExits(t *testing.T) {
	srv := redistest.Start(t)
	env := map[string]string{"REDIS_URL": srv.URL(), "USER": "bob"}
	out := &syncBuffer{}
	m := &Main{Args: nil, Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader("build " + examples("hello") + "\n"), Stdout: out, Stderr: io.Discard}
	defer m.Close()
	code := m.Run(context.Background())
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if !strings.Contains(out.String(), "✅ #1 succeeded") {
		t.Fatalf("piped console quit before the job ended:\n%s", out)
	}
}
