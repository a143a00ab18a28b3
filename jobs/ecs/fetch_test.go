package ecs_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/jobs/ecs"
)

func TestFetchChecksOutTheSHA(t *testing.T) {
	repo := newGitRepo(t)
	dst := filepath.Join(t.TempDir(), "src")
	var out bytes.Buffer
	if err := ecs.Fetch(context.Background(), ecs.FetchConfig{URL: repo.url, SHA: repo.first, Dir: dst, Out: &out}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "version.txt"))
	if err != nil || string(b) != "one\n" {
		t.Errorf("version.txt = %q (%v), want the first commit's", b, err)
	}
	if _, err := os.Stat(filepath.Join(dst, "run.sh")); !os.IsNotExist(err) {
		t.Error("a file of a later commit is in the work tree")
	}
	if head := git(t, dst, "rev-parse", "HEAD"); head != repo.first {
		t.Errorf("HEAD %s, want %s", head, repo.first)
	}
	info, _ := os.Stat(filepath.Join(dst, "version.txt"))
	if info.Mode().Perm()&0o666 != 0o666 {
		t.Errorf("version.txt mode %v: a job running as another user could not write it", info.Mode())
	}
	if !strings.Contains(out.String(), "checked out "+repo.first[:12]) {
		t.Errorf("progress: %q", out.String())
	}
	// The destination must be empty.
	err = ecs.Fetch(context.Background(), ecs.FetchConfig{URL: repo.url, SHA: repo.head, Dir: dst})
	if err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("fetch into a full directory: %v", err)
	}
}

func TestFetchRefusals(t *testing.T) {
	repo := newGitRepo(t)
	missing := strings.Repeat("ab", 20)
	err := ecs.Fetch(context.Background(), ecs.FetchConfig{URL: repo.url, SHA: missing, Dir: t.TempDir()})
	if !errors.Is(err, ecs.ErrCommitNotFound) {
		t.Errorf("missing commit: %v", err)
	}
	for _, c := range []ecs.FetchConfig{
		{URL: repo.url, SHA: "main", Dir: t.TempDir()},
		{URL: "--upload-pack=touch /tmp/x", SHA: repo.head, Dir: t.TempDir()},
		{URL: repo.url, SHA: repo.head},
	} {
		if err := ecs.Fetch(context.Background(), c); err == nil {
			t.Errorf("Fetch(%+v) succeeded", c)
		}
	}
}

// The token reaches git through its environment, never its arguments: a
// git on PATH that records both shows where it went.
func TestFetchTokenIsNotOnACommandLine(t *testing.T) {
	realGit, err := exec.LookPath("git")
	if err != nil {
		t.Fatal(err)
	}
	bin, rec := t.TempDir(), filepath.Join(t.TempDir(), "record")
	wrapper := "#!/bin/sh\n" +
		"echo \"args: $*\" >> " + rec + "\n" +
		"env | grep '^GIT_CONFIG_' >> " + rec + "\n" +
		"exec " + realGit + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	// Nothing listens there: the fetch fails, after git has been called.
	err = ecs.Fetch(context.Background(), ecs.FetchConfig{
		URL: "https://127.0.0.1:1/acme/hello.git", SHA: strings.Repeat("cd", 20), Dir: t.TempDir(), Token: "ghs_s3cr3t",
	})
	if err == nil {
		t.Fatal("fetch from nowhere succeeded")
	}
	b, _ := os.ReadFile(rec)
	var args, envs []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "args: ") {
			args = append(args, l)
		} else if l != "" {
			envs = append(envs, l)
		}
	}
	if len(args) == 0 {
		t.Fatal("git was never called")
	}
	for _, a := range args {
		if strings.Contains(a, "ghs_s3cr3t") || strings.Contains(a, "Authorization") {
			t.Errorf("the token is on a command line: %s", a)
		}
	}
	if !strings.Contains(strings.Join(envs, "\n"), "GIT_CONFIG_VALUE_0=Authorization: Basic eC1hY2Nlc3MtdG9rZW46Z2hzX3MzY3IzdA==") {
		t.Errorf("git's environment has no Authorization header for the token:\n%s", strings.Join(envs, "\n"))
	}
	if strings.Contains(err.Error(), "ghs_s3cr3t") {
		t.Errorf("the error shows the token: %v", err)
	}
}

// A server that hands out only advertised commits (git protocol v0 here)
// gets a fetch of its branches and tags instead.
func TestFetchFallsBackToBranches(t *testing.T) {
	t.Setenv("GIT_CONFIG_COUNT", "1")
	t.Setenv("GIT_CONFIG_KEY_0", "protocol.version")
	t.Setenv("GIT_CONFIG_VALUE_0", "0")
	repo := newGitRepo(t)
	dst := filepath.Join(t.TempDir(), "src")
	var out bytes.Buffer
	if err := ecs.Fetch(context.Background(), ecs.FetchConfig{URL: repo.url, SHA: repo.first, Dir: dst, Out: &out}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "fetching branches and tags") {
		t.Errorf("the single-commit fetch worked under protocol v0; the fallback was not exercised: %q", out.String())
	}
	if head := git(t, dst, "rev-parse", "HEAD"); head != repo.first {
		t.Errorf("HEAD %s, want %s", head, repo.first)
	}
}
