package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
)

func randomWord(t *testing.T, prefix string) string {
	t.Helper()
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b[:])
}

// consoleWith runs the console with exactly env (no REDIS_URL unless env
// has one), for tests of what the console's own parts expose.
func consoleWith(t *testing.T, env map[string]string) *consoleSession {
	t.Helper()
	pr, pw := io.Pipe()
	s := &consoleSession{t: t, in: pw, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	m := &Main{Args: []string{"console"}, Getenv: func(k string) string { return env[k] }, Stdin: pr, Stdout: s.out, Stderr: s.errOut}
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

func writeRepo(t *testing.T, spec string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A step scans every listening TCP port on the machine with redis-cli and
// prints the keys it finds: gantry's embedded Redis must not be among them.
func TestStepCannotReachEmbeddedRedis(t *testing.T) {
	ns := randomWord(t, "ns")
	s := consoleWith(t, map[string]string{"USER": "alice", "GANTRY_REDIS_NAMESPACE": ns, "GANTRY_HTTP_ADDR": "127.0.0.1:0"})
	repo := writeRepo(t, `pipelines:
  branch:
    steps:
      - |
        for f in /proc/net/tcp /proc/net/tcp6; do
          awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' $f
        done | sort -u | while read hex; do
          port=$((16#$hex))
          echo "port $port"
          timeout 2 redis-cli -h 127.0.0.1 -p $port --no-auth-warning --scan 2>/dev/null | head -50
        done
        echo scan done
`)
	s.typeLine("build " + repo)
	s.waitFor(`#1 +│ scan done`, 60*time.Second)
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 10*time.Second)
	if strings.Contains(s.out.String(), ns) {
		t.Fatalf("a step found the keys of gantry's embedded Redis:\n%s", s.out)
	}
	if !strings.Contains(s.out.String(), "port ") {
		t.Fatalf("the step listed no listening ports, so it proved nothing:\n%s", s.out)
	}
}

// A step prints every process's environment, plain and in base64: none of
// gantry's secrets shows in the console or the stored log.
func TestStepDumpingEveryEnvironmentShowsNoSecret(t *testing.T) {
	secrets := map[string]string{
		"GITHUB_WEBHOOK_SECRET": randomWord(t, "hook-"),
		"GANTRY_LINK_SECRET":    randomWord(t, "link-"),
		"SLACK_BOT_TOKEN":       randomWord(t, "xoxb-1-"),
		"GANTRY_SECRET_NPM":     randomWord(t, "npm-"),
	}
	for k, v := range secrets {
		t.Setenv(k, v) // in gantry's own /proc/PID/environ too
	}
	repo := writeRepo(t, `pipelines:
  branch:
    steps:
      - echo "npm is $NPM"
      - cat /proc/$PPID/environ | tr '\0' '\n'; base64 -w0 /proc/$PPID/environ; echo
      - for f in /proc/[0-9]*/environ; do tr '\0' '\n' < $f; base64 -w0 $f; echo; done 2>/dev/null; echo dumped
`)
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(cfg, []byte("repos:\n  app:\n    path: "+repo+"\n    secrets: {NPM: file:/nonexistent}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := redistest.Start(t)
	env := map[string]string{"USER": "alice", "GANTRY_CONFIG": cfg, "REDIS_URL": srv.URL(), "GANTRY_HTTP_ADDR": "127.0.0.1:0"}
	for k, v := range secrets {
		env[k] = v
	}
	s := consoleWith(t, env)
	s.typeLine("build app")
	s.waitFor(`#1 +│ dumped`, 60*time.Second)
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 10*time.Second)
	s.waitFor(`#1 +│ npm is \[redacted\]`, time.Second)
	stored, err := srv.Client().Get(context.Background(), "{gantry}:log:1").Result()
	if err != nil {
		t.Fatal(err)
	}
	link := s.waitFor(`Whole log: (\S+)`, 10*time.Second)
	page := fetch(t, strings.TrimPrefix(link, "Whole log: "))
	raw := fetch(t, strings.Replace(strings.TrimPrefix(link, "Whole log: "), "/jobs/1?", "/jobs/1/log?", 1))
	if !strings.Contains(raw, "dumped") {
		t.Fatalf("the raw log page does not have the job's output: %.200s", raw)
	}
	for where, text := range map[string]string{"console": s.out.String(), "stored log": stored, "job page": page, "raw log": raw} {
		for name, secret := range secrets {
			if leaked(text, secret) {
				t.Errorf("%s shows %s", where, name)
			}
		}
	}
}

var base64Run = regexp.MustCompile(`[A-Za-z0-9+/]{16,}={0,2}`)

// leaked reports whether secret is in text as it is or inside any base64
// run of it, whatever its alignment.
func leaked(text, secret string) bool {
	if strings.Contains(text, secret) {
		return true
	}
	for _, run := range base64Run.FindAllString(text, -1) {
		run = strings.TrimRight(run, "=")
		for cut := 0; cut < 4 && cut < len(run); cut++ {
			s := run[cut:]
			s = s[:len(s)/4*4]
			b, err := base64.StdEncoding.DecodeString(s)
			if err == nil && strings.Contains(string(b), secret) {
				return true
			}
		}
	}
	return false
}

func TestServeRefusesUntrustedLocalRunner(t *testing.T) {
	srv := slackserver.New(t)
	rdb := redistest.Start(t)
	env := map[string]string{
		"SLACK_APP_TOKEN": slackserver.AppToken, "SLACK_BOT_TOKEN": slackserver.BotToken, "SLACK_API_URL": srv.APIURL(),
		"REDIS_URL": rdb.URL(), "GANTRY_HTTP_ADDR": "127.0.0.1:0",
	}
	errOut := &syncBuffer{}
	m := &Main{Args: []string{"serve"}, Getenv: func(k string) string { return env[k] }, Stdout: &syncBuffer{}, Stderr: errOut}
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if code := m.Run(ctx); code != 1 {
		t.Fatalf("serve with an untrusted local runner exited %d; stderr: %s", code, errOut)
	}
	if got := errOut.String(); !strings.Contains(got, "gantry: runner.local.trusted: the local runner runs every branch's code on this machine") {
		t.Errorf("stderr does not say why: %s", got)
	}
}

// stepDir is a directory that the test and the job's steps share: steps
// run as an unprivileged user when the tests run as root, and cannot enter
// the test's own temporary directories.
func stepDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gantry-step-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func fetch(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
