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

	"github.com/gantry-ci/gantry/internal/redistest"
)

func runMain(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runMainEnv(t, nil, args...)
}

// runMainEnv runs gantry with args and the settings of env, and returns
// its exit code, stdout and stderr.
func runMainEnv(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	m := &Main{Args: args, Getenv: func(k string) string { return env[k] }, Stdout: &out, Stderr: &errOut}
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

// TestCheckSaysServeRefusesAnUntrustedLocalRunner: a server config with
// no runner passed check and then stopped serve at start-up.
func TestCheckSaysServeRefusesAnUntrustedLocalRunner(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ file, note string }{
		{"repos:\n  hello: {path: /srv/hello}\n", "note: the local runner is not trusted"},
		{"runner: {kind: local, local: {trusted: true}}\nrepos:\n  hello: {path: /srv/hello}\n", ""},
	} {
		path := filepath.Join(dir, "gantry.yml")
		os.WriteFile(path, []byte(c.file), 0o644)
		code, out, errOut := runMain(t, "check", path)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if c.note == "" && strings.Contains(out, "note:") {
			t.Errorf("a trusted local runner gets a note:\n%s", out)
		}
		if c.note != "" && !strings.Contains(out, c.note) {
			t.Errorf("check of %q does not say serve refuses it:\n%s", c.file, out)
		}
		if c.note == "" {
			continue
		}
		// and a worker does refuse that very file.
		code, _, errOut = runMainEnv(t, map[string]string{"GANTRY_CONFIG": path, "REDIS_URL": redistest.Start(t).URL()}, "worker")
		if code != 1 || !strings.Contains(errOut, "runner.local.trusted") {
			t.Errorf("a worker with the file check warned of: exit %d, %s", code, errOut)
		}
	}
}

// TestCheckRefusesWhatTheECSRunnerRefuses: a file: secret with the ecs
// runner passed check and then stopped the worker at start.
func TestCheckRefusesWhatTheECSRunnerRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.yml")
	runner := "runner: {kind: ecs, ecs: {cluster: ci, launch_type: FARGATE, fetch_image: gantry:1, subnets: [subnet-1], log_group: /gantry/jobs, execution_role_arn: arn:aws:iam::123456789012:role/x}}\n"
	for _, c := range []struct{ file, want string }{
		{"repos:\n  hello: {github: acme/hello, secrets: {NPM_TOKEN: file:/etc/npm}}\n" + runner,
			`gantry check: ` + path + `: repos.hello.secrets.NPM_TOKEN: "file:/etc/npm" cannot be used with the ecs runner`},
		{"repos:\n  hello: {github: acme/hello, secrets: {NPM_TOKEN: arn:aws:secretsmanager:eu-west-1:123456789012:secret:ci/npm}}\n" +
			strings.Replace(runner, ", execution_role_arn: arn:aws:iam::123456789012:role/x", "", 1),
			`gantry check: ` + path + `: runner.ecs.execution_role_arn: is not set: ECS fetches the secrets of jobs with it`},
	} {
		os.WriteFile(path, []byte(c.file), 0o644)
		code, out, errOut := runMain(t, "check", path)
		if code != 1 || !strings.Contains(errOut, c.want) {
			t.Errorf("check of\n%s= exit %d\nstdout: %s\nstderr: %s\nwant: %s", c.file, code, out, errOut, c.want)
		}
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

// A server config is checked as one whatever its file is called, by what
// it holds: any of the keys only a server config has, and the keys both
// files have by their shape. A .gantry.yml with those shared keys stays
// a .gantry.yml.
func TestCheckKnowsServerConfigByContent(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ content, want string }{
		{"repos:\n  app: {path: /srv/app, concurrency: 2}\nworkers: 2\n", "valid server config"},
		{"users: {octocat: U0123}\n", "valid server config"},
		{"previews: {max: 3, ttl: 2h}\n", "valid server config"},
		{"retention: {jobs: 30d, logs: 7d}\n", "valid server config"},
		{"artifacts: {bucket: acme-ci, max_files: 10}\n", "valid server config"},
		{"events: {max_age: 12h}\n", "valid server config"},
		{"limits: {queued_per_person: 5}\nweb: {public: true}\n", "valid server config"},
		{"admins: [U09]\nretry: {max_attempts: 2}\n", "valid server config"},
		// Checked as a server config, whose schedules need a repo of repos:.
		{"schedules:\n  nightly: {cron: \"@daily\", repo: app, pipeline: nightly}\n", `prod.yml:2: schedule "nightly": repo "app" is not one of repos: (there are none)`},
		// A misspelt server key still makes it a server config.
		{"repoz:\n  app: {path: /srv/app}\n", `prod.yml:1: unknown key "repoz" (did you mean "repos"?)`},
		// The keys both have, written as a .gantry.yml writes them.
		{"artifacts: [dist/**]\nschedules:\n  nightly: {cron: \"@daily\", pipeline: nightly}\npipelines:\n  nightly: {steps: [make soak]}\n", "prod.yml: valid\n"},
	} {
		path := filepath.Join(dir, "prod.yml")
		if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, out, errOut := runMain(t, "check", path)
		if !strings.Contains(out+errOut, tt.want) {
			t.Errorf("check prod.yml holding\n%s: want %q in\n%s%s", tt.content, tt.want, out, errOut)
		}
	}
}

// gantry check prints each pipeline's and deploy stage's header once.
func TestCheckPrintsEachPipelineHeaderOnce(t *testing.T) {
	code, out, errOut := runMain(t, "check", filepath.Join("..", "..", "examples", "hello", ".gantry.yml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, header := range []string{"pipeline branch", "pipeline pr", "deploy staging", "deploy production"} {
		if n := strings.Count(out, header); n != 1 {
			t.Errorf("%q is printed %d times:\n%s", header, n, out)
		}
	}
}

// gantry check --server gantry.yml .gantry.yml checks the repo file against
// the server config: each pool and environment it needs that the server
// config does not define, at the repo file's line, with what is defined
// and the nearest name.
func TestCheckCrossChecksARepoFileAgainstTheServerConfig(t *testing.T) {
	dir := t.TempDir()
	server := filepath.Join(dir, "gantry.yml")
	repo := filepath.Join(dir, ".gantry.yml")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(server, "pools:\n  redis: [redis-1]\n  pg: [pg-1]\nenvironments:\n  staging: {deployers: [\"*\"]}\n  production: {deployers: [U01]}\n")
	write(repo, `resources: [mysql]
pipelines:
  branch: {steps: [make test]}
  nightly:
    resources: [redis, pq]
    steps: [make soak]
deploy:
  staging: {steps: [./deploy staging]}
  prod: {steps: [./deploy prod]}
`)
	code, out, errOut := runMain(t, "check", "--server", server, repo)
	want := []string{
		repo + `:1: resources: pool "mysql" is not defined in ` + server + ` (pools: pg, redis)`,
		repo + `:5: resources in pipeline "nightly": pool "pq" is not defined in ` + server + ` (did you mean "pg"? pools: pg, redis)`,
		repo + `:9: deploy stage "prod": environment "prod" is not defined in ` + server + ` (environments: production, staging), so no one can deploy there`,
	}
	if code != 1 || errOut != strings.Join(want, "\n")+"\n" {
		t.Errorf("exit %d\nstderr:\n%s\nwant:\n%s\nstdout:\n%s", code, errOut, strings.Join(want, "\n"), out)
	}

	write(repo, "resources: [pg]\npipelines:\n  branch: {steps: [make test]}\ndeploy:\n  staging: {steps: [./deploy staging]}\n")
	code, out, errOut = runMain(t, "check", "--server="+server, repo)
	if code != 0 || !strings.Contains(out, repo+": valid\n"+server+" defines every pool and environment it needs\n") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}

	// The two files the wrong way round, or --server without a file.
	for _, args := range [][]string{{"--server", repo, repo}, {"--server", server, server}, {"--server", server}, {"--server=", repo}, {"--server", server, "--verbose"}} {
		code, _, errOut := runMain(t, append([]string{"check"}, args...)...)
		if code != 2 || errOut == "" {
			t.Errorf("check %v: exit %d: %s", args, code, errOut)
		}
	}
	if _, _, errOut := runMain(t, "check"); !strings.Contains(errOut, "gantry check --server GANTRY_YML FILE") {
		t.Errorf("the usage does not show --server: %s", errOut)
	}
	if _, out, _ := runMain(t, "help"); !strings.Contains(out, "check --server gantry.yml .gantry.yml") {
		t.Errorf("gantry's usage does not show check --server:\n%s", out)
	}
}
