package ecs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// runScript runs stepScript with the shell as the job container would,
// with the steps in its environment, and returns its output lines and exit
// code.
func runScript(t *testing.T, shell string, hosts string, steps ...string) ([]string, int) {
	t.Helper()
	cmd := scriptCmd(t, shell, hosts, steps...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(out), "\n"), "\n"), code
}

func scriptCmd(t *testing.T, shell, hosts string, steps ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(shell, "-c", stepScript)
	cmd.Dir = t.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "GANTRY_MARKER=m1", "GANTRY_SERVICES=redis my-db", "GANTRY_HOSTS_FILE=" + hosts,
		"GANTRY_STEPS=" + strconv.Itoa(len(steps))}
	for i, s := range steps {
		cmd.Env = append(cmd.Env, "GANTRY_STEP_"+strconv.Itoa(i+1)+"="+s)
	}
	return cmd
}

func TestStepScript(t *testing.T) {
	for _, shell := range []string{"sh", "bash"} {
		t.Run(shell, func(t *testing.T) {
			hosts := filepath.Join(t.TempDir(), "hosts")
			if err := os.WriteFile(hosts, []byte("127.0.0.1 localhost\n127.0.0.1 redis\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			lines, code := runScript(t, shell, hosts,
				`echo "one: $GANTRY_MARKER"`,
				`printf '%s\n' "it's \"quoted\"; $(echo nested) \$HOME" ; echo to-stderr >&2`,
				"echo two; exit 4",
				"echo never")
			want := []string{
				"##gantry:m1:start:1", "one: m1", "##gantry:m1:end:1:0",
				"##gantry:m1:start:2", `it's "quoted"; nested $HOME`, "to-stderr", "##gantry:m1:end:2:0",
				"##gantry:m1:start:3", "two", "##gantry:m1:end:3:4",
			}
			if diff := cmp.Diff(want, lines); diff != "" || code != 4 {
				t.Errorf("exit %d, output (-want +got):\n%s", code, diff)
			}
			b, _ := os.ReadFile(hosts)
			if got := string(b); got != "127.0.0.1 localhost\n127.0.0.1 redis\n127.0.0.1 my-db\n" {
				t.Errorf("hosts file:\n%s", got)
			}
		})
	}
}

func TestStepScriptUnwritableHostsFileIsSaid(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "missing", "hosts")
	lines, code := runScript(t, "sh", hosts, "echo ran")
	want := []string{
		"gantry: cannot add redis to " + hosts + "; reach it at localhost",
		"gantry: cannot add my-db to " + hosts + "; reach it at localhost",
		"##gantry:m1:start:1", "ran", "##gantry:m1:end:1:0",
	}
	if diff := cmp.Diff(want, lines); diff != "" || code != 0 {
		t.Errorf("exit %d, output (-want +got):\n%s", code, diff)
	}
}

// StopTask sends SIGTERM to the container's first process, the script:
// it passes the signal to the step, reports how the step ended and exits
// (which ends the container, and whatever the step left behind with it).
func TestStepScriptPassesSIGTERMToTheStep(t *testing.T) {
	cmd := scriptCmd(t, "sh", os.DevNull, "echo started; sleep 30; echo slept")
	outPath := filepath.Join(t.TempDir(), "out")
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Like the container's end: nothing of the group outlives the test.
	defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if b, _ := os.ReadFile(outPath); strings.Contains(string(b), "started\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the step never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	began := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	st, err := cmd.Process.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("the script took %s to stop", took)
	}
	b, _ := os.ReadFile(outPath)
	if got := string(b); !strings.Contains(got, "##gantry:m1:end:1:143\n") || strings.Contains(got, "slept") {
		t.Errorf("after SIGTERM: %q", got)
	}
	if st.ExitCode() != 143 {
		t.Errorf("exit code %d, want 143", st.ExitCode())
	}
}

func TestParseMarker(t *testing.T) {
	for _, c := range []struct {
		line string
		want markerLine
		ok   bool
	}{
		{"##gantry:tok:start:2", markerLine{start: true, step: 2}, true},
		{"##gantry:tok:end:3:127\r", markerLine{step: 3, code: 127}, true},
		{"##gantry:other:start:1", markerLine{}, false},
		{"  ##gantry:tok:start:1", markerLine{}, false},
		{"##gantry:tok:start:0", markerLine{start: true}, false},
		{"##gantry:tok:end:1", markerLine{}, false},
		{"##gantry:tok:start:x", markerLine{start: true}, false},
	} {
		got, ok := parseMarker(c.line, "tok")
		if ok != c.ok || (ok && got != c.want) {
			t.Errorf("parseMarker(%q) = %+v, %v; want %+v, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := cursor{Token: "f/123", Step: 2, At: 1700000000000, Done: 1}
	got, err := parseCursor(c.String())
	if err != nil || got != c {
		t.Errorf("round trip: %+v, %v", got, err)
	}
	if _, err := parseCursor("f/123"); err == nil {
		t.Error("a bare token parsed as a cursor")
	}
}

func TestPermanentStartFailure(t *testing.T) {
	for reason, want := range map[string]bool{
		"CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref x: not found": true,
		"CannotPullContainerError: pull access denied for nope, repository does not exist":                             true,
		"CannotPullContainerError: invalid reference format":                                                           true,
		"CannotPullContainerError: toomanyrequests: You have reached your pull rate limit":                             false,
		"ResourceInitializationError: failed to validate logger args: The specified log group does not exist":          false,
		"Task failed to start": false,
	} {
		if got := permanentStartFailure(reason); got != want {
			t.Errorf("permanentStartFailure(%q) = %v", reason, got)
		}
	}
}
