package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
	for _, want := range []string{"valid", "pipeline branch:", "pipeline pr:", "deploy production:", "./greet.sh world"} {
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
