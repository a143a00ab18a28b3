package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/web"
)

const hookSecret = "webhook-secret-for-tests"

// githubSession is the console with GitHub access: acme/hello on a fake
// GitHub backed by a real git repository, bound to channel C0HELLO as
// "hello", and GitHub's webhooks going to the console's HTTP server.
type githubSession struct {
	*consoleSession
	gh   *githubServer
	base string // the console's HTTP server
	stop func() // stops gantry before the test ends; nil on a Redis of its own
}

type githubServer struct {
	*githubserver.Server
	dir  string // the git repository behind acme/hello
	gate string // a directory where the test lets waiting steps go on
	t    *testing.T
}

// helloSpec's steps wait, where they say so, until the test creates a file
// in the gate directory, so the test sees each state before the next.
const helloSpec = `pipelines:
  branch:
    steps:
      - echo "branch build of $GANTRY_REF at $GANTRY_SHA"
      - while [ ! -e %[1]s/build ]; do sleep 0.05; done; echo "built"
  pr:
    steps:
      - echo "pr build of $GANTRY_REF at $GANTRY_SHA"; sleep 120
deploy:
  staging:
    steps:
      - while [ ! -e %[1]s/deploy ]; do sleep 0.05; done; echo "deployed $GANTRY_SHA"
`

func startGitHubConsole(t *testing.T) *githubSession {
	t.Helper()
	return newGitHubServer(t).console(t, "")
}

// newGitHubServer is a fake GitHub serving acme/hello from a real git
// repository whose .gantry.yml is helloSpec.
func newGitHubServer(t *testing.T) *githubServer {
	t.Helper()
	g := &githubServer{Server: githubserver.New(t), dir: t.TempDir(), gate: stepDir(t), t: t}
	g.git("init", "--quiet", "--initial-branch=main")
	g.commit(map[string]string{".gantry.yml": fmt.Sprintf(helloSpec, g.gate)}, "add .gantry.yml")
	g.AddGitRepo("acme/hello", g.dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("GitHub:\n%s", g.Summary())
		}
	})
	return g
}

// console starts gantry's console with GitHub access to g: on a Redis of
// its own, or on redisURL when it is set (then it stops when the test
// ends or stop is called).
func (g *githubServer) console(t *testing.T, redisURL string) *githubSession {
	t.Helper()
	return g.consoleWith(t, redisURL, `repos:
  hello: {github: acme/hello, channel: C0HELLO}
environments:
  staging: {deployers: ["*"]}
`)
}

// consoleWith is console with serverConfig as gantry.yml.
func (g *githubServer) consoleWith(t *testing.T, redisURL, serverConfig string) *githubSession {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(cfg, []byte(serverConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"GANTRY_CONFIG": cfg, "GANTRY_HTTP_ADDR": "127.0.0.1:0",
		"GITHUB_TOKEN": githubserver.Token, "GITHUB_API_URL": g.URL(), "GITHUB_WEBHOOK_SECRET": hookSecret,
	}
	var s *consoleSession
	var stop func()
	if redisURL == "" {
		s = startConsole(t, env)
	} else {
		s, stop = startConsoleOn(t, env, redisURL)
	}
	addr := s.waitForLog(`msg="HTTP server listening" addr=(\S+)`, 10*time.Second)
	return &githubSession{consoleSession: s, gh: g, base: "http://" + addr, stop: stop}
}

// startConsoleOn is startConsole on a Redis the test shares between
// several gantry processes; the func stops it.
func startConsoleOn(t *testing.T, env map[string]string, redisURL string) (*consoleSession, func()) {
	t.Helper()
	env["REDIS_URL"], env["USER"] = redisURL, "alice"
	pr, pw := io.Pipe()
	s := &consoleSession{t: t, in: pw, out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan int, 1)}
	m := &Main{Args: []string{"console"}, Getenv: func(k string) string { return env[k] }, Stdin: pr, Stdout: s.out, Stderr: s.errOut}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { s.done <- m.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
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
	}
	t.Cleanup(stop)
	return s, stop
}

// waitForLog waits until gantry's log matches re and returns its last
// group, or the whole match when it has none.
func (s *consoleSession) waitForLog(re string, within time.Duration) string {
	s.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(s.errOut.String()); m != nil {
			return m[len(m)-1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("gantry never logged %q", re)
	return ""
}

func (g *githubServer) git(args ...string) string {
	g.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		g.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// commit writes files in the repository and commits them on the branch
// checked out; it returns the new commit's SHA.
func (g *githubServer) commit(files map[string]string, msg string) string {
	g.t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(g.dir, name), []byte(content), 0o644); err != nil {
			g.t.Fatal(err)
		}
	}
	g.git("add", "-A")
	g.git("commit", "--quiet", "--allow-empty", "-m", msg)
	return g.git("rev-parse", "HEAD")
}

// open lets the steps waiting for name go on.
func (g *githubServer) open(name string) {
	g.t.Helper()
	if err := os.WriteFile(filepath.Join(g.gate, name), nil, 0o644); err != nil {
		g.t.Fatal(err)
	}
}

// waitStatus waits until the newest status of sha is state and returns
// every status of sha.
func (g *githubServer) waitStatus(sha, state string) []githubserver.Status {
	g.t.Helper()
	g.WaitFor(g.t, 20*time.Second, fmt.Sprintf("status %s on %s", state, sha[:7]), func(s *githubserver.Server) bool {
		st := s.Statuses("acme/hello", sha)
		return len(st) > 0 && st[len(st)-1].State == state
	})
	return g.Statuses("acme/hello", sha)
}

// hook posts a webhook signed with secret to the console's HTTP server.
func (s *githubSession) hook(secret, event, delivery string, payload any) (int, string) {
	s.t.Helper()
	resp, err := http.DefaultClient.Do(githubserver.SignedRequest(s.base+"/webhooks/github", secret, event, delivery, payload))
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var signedJobLink = regexp.MustCompile(`^http://127\.0\.0\.1:\d+/jobs/(\d+)\?exp=\d+&sig=[0-9a-f]{64}$`)

func TestConsoleBuildOfGitHubRepoReportsCommitStatuses(t *testing.T) {
	s := startGitHubConsole(t)
	head := s.gh.Head("acme/hello", "main")
	s.typeLine("build hello")
	s.waitFor(`gantry > Queued #1: build hello@main \(`+head[:7]+`\)`, 10*time.Second)
	first := s.gh.waitStatus(head, "pending")[0]
	s.waitFor(`#1 +│ branch build of main at `+head, 15*time.Second)
	s.gh.open("build")
	statuses := s.gh.waitStatus(head, "success")
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 10*time.Second)

	if first.State != "pending" || first.Description != "queued" {
		t.Errorf("first status = %s %q, want pending queued", first.State, first.Description)
	}
	last := statuses[len(statuses)-1]
	if !strings.HasPrefix(last.Description, "succeeded in ") || last.Context != "gantry/build" {
		t.Errorf("last status = %+v", last)
	}
	for _, st := range statuses {
		m := signedJobLink.FindStringSubmatch(st.TargetURL)
		if m == nil || m[1] != "1" || !strings.HasPrefix(st.TargetURL, s.base+"/") {
			t.Errorf("status %s %q links to %q, want the signed link to #1 on %s", st.State, st.Description, st.TargetURL, s.base)
		}
	}
	resp, err := http.Get(last.TargetURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), "#1 build hello@main") {
		t.Errorf("the status's link answered %d:\n%.300s", resp.StatusCode, page)
	}
}

func TestConsoleRunsSignedPushWebhooksOnce(t *testing.T) {
	s := startGitHubConsole(t)
	s.gh.open("build")
	sha := s.gh.commit(map[string]string{"README": "hello\n"}, "readme")
	push := githubserver.PushPayload(s.gh.PushFor("acme/hello", "main"))

	if code, body := s.hook("not the secret", "push", "delivery-forged", push); code != http.StatusUnauthorized {
		t.Errorf("a webhook with a bad signature answered %d %q, want 401", code, body)
	}
	s.waitForLog(`msg="GitHub webhook refused".*delivery=delivery-forged`, 5*time.Second)

	if code, body := s.hook(hookSecret, "push", "delivery-1", push); code != http.StatusAccepted {
		t.Fatalf("the push answered %d %q, want 202", code, body)
	}
	// The job's message in the repo's channel, by GitHub, and its thread.
	s.waitFor(`#1 +┃ #1 build hello@main \(`+sha[:7]+`\) by GitHub: queued`, 10*time.Second)
	s.waitFor(`#1 +│ branch build of main at `+sha, 15*time.Second)
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 15*time.Second)
	s.gh.waitStatus(sha, "success")

	// GitHub's redelivery has the same X-GitHub-Delivery: nothing runs twice.
	if code, body := s.hook(hookSecret, "push", "delivery-1", push); code != http.StatusAccepted || !strings.Contains(body, "already handled") {
		t.Errorf("the redelivery answered %d %q", code, body)
	}
	s.typeLine("status #2")
	s.waitFor(`gantry > there is no job #2`, 5*time.Second)
	if strings.Contains(s.out.String(), "#2 ") {
		t.Errorf("a second job ran:\n%s", s.out)
	}

	// A deleted branch builds nothing.
	gone := githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Branch: "old", Deleted: true, Before: sha})
	if code, _ := s.hook(hookSecret, "push", "delivery-2", gone); code != http.StatusAccepted {
		t.Errorf("the deleted branch answered %d", code)
	}
	s.waitForLog(`msg="GitHub push ignored: the branch was deleted"`, 5*time.Second)
	s.typeLine("queue")
	s.waitFor(`gantry > Nothing is queued or running\.`, 5*time.Second)
}

// TestConsoleRunsTheTagPipelineOfAnAnnotatedTag: GitHub sends an annotated
// tag's object as the push's "after", which is no commit; gantry read it
// as one, and the push was dropped.
func TestConsoleRunsTheTagPipelineOfAnAnnotatedTag(t *testing.T) {
	s := startGitHubConsole(t)
	withTag := strings.Replace(fmt.Sprintf(helloSpec, s.gh.gate), "pipelines:\n", "pipelines:\n  tag:\n    steps:\n      - echo \"tag build of $GANTRY_REF at $GANTRY_SHA\"\n", 1)
	sha := s.gh.commit(map[string]string{".gantry.yml": withTag}, "add a tag pipeline")
	// The same sort of tag both ways: lightweight (after is the commit),
	// then annotated (after is the tag object).
	for i, object := range []string{"", "5d1f0c3b9a7e2d4c6b8a0f1e3d5c7b9a1f2e4d6c"} {
		tag := fmt.Sprintf("v1.%d.0", i)
		push := githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Tag: tag, After: sha, TagObject: object, CloneURL: s.gh.CloneURL("acme/hello")})
		if code, body := s.hook(hookSecret, "push", "delivery-tag-"+tag, push); code != http.StatusAccepted {
			t.Fatalf("the push of %s answered %d %q", tag, code, body)
		}
		n := strconv.Itoa(i + 1)
		s.waitFor(`#`+n+` +│ tag build of `+regexp.QuoteMeta(tag)+` at `+sha, 15*time.Second)
		s.waitFor(`#`+n+` +┃ ✅ #`+n+` succeeded`, 15*time.Second)
	}
}

func TestConsolePullRequestPushesSupersedeAndCloseCancels(t *testing.T) {
	s := startGitHubConsole(t)
	s.gh.git("checkout", "--quiet", "-b", "feature")
	first := s.gh.commit(map[string]string{"a.txt": "1\n"}, "first")
	pr := githubserver.PullRequest{Repo: "acme/hello", Number: 7, HeadRef: "feature", HeadSHA: first, CloneURL: s.gh.CloneURL("acme/hello")}
	if code, body := s.hook(hookSecret, "pull_request", "pr-opened", githubserver.PullRequestPayload(pr)); code != http.StatusAccepted {
		t.Fatalf("opened answered %d %q", code, body)
	}
	s.waitFor(`#1 +│ pr build of feature at `+first, 15*time.Second)

	second := s.gh.commit(map[string]string{"a.txt": "2\n"}, "second")
	pr.Action, pr.Before, pr.HeadSHA = "synchronize", first, second
	if code, body := s.hook(hookSecret, "pull_request", "pr-sync", githubserver.PullRequestPayload(pr)); code != http.StatusAccepted {
		t.Fatalf("synchronize answered %d %q", code, body)
	}
	s.waitFor(`#1 +┃ 🚫 #1 cancelled in \S+: cancelled by a newer push to PR #7 \(#2\)`, 15*time.Second)
	s.waitFor(`#2 +│ pr build of feature at `+second, 15*time.Second)
	old := s.gh.waitStatus(first, "error")
	if st := old[len(old)-1]; st.Context != "gantry/pr" || st.Description != "cancelled by a newer push to PR #7 (#2)" {
		t.Errorf("status of the superseded commit = %+v", st)
	}

	pr.Action = "closed"
	if code, body := s.hook(hookSecret, "pull_request", "pr-closed", githubserver.PullRequestPayload(pr)); code != http.StatusAccepted {
		t.Fatalf("closed answered %d %q", code, body)
	}
	s.waitFor(`#2 +┃ 🚫 #2 cancelled in \S+: cancelled by GitHub: pull request #7 was closed`, 15*time.Second)
	s.gh.waitStatus(second, "error")
}

func TestConsoleDeployOfGitHubRepoMakesADeployment(t *testing.T) {
	s := startGitHubConsole(t)
	head := s.gh.Head("acme/hello", "main")
	s.typeLine("deploy hello staging")
	s.waitFor(`gantry > Queued #1: deploy hello@main \(`+head[:7]+`\) to staging`, 10*time.Second)
	s.gh.WaitFor(t, 20*time.Second, "a deployment in progress", func(g *githubserver.Server) bool {
		d := g.Deployments("acme/hello")
		return len(d) == 1 && len(d[0].Statuses) == 1
	})
	s.gh.open("deploy")
	s.waitFor(`#1 +│ deployed `+head, 15*time.Second)
	s.gh.WaitFor(t, 20*time.Second, "the deployment's success", func(g *githubserver.Server) bool {
		d := g.Deployments("acme/hello")
		return len(d) == 1 && len(d[0].Statuses) == 2
	})
	d := s.gh.Deployments("acme/hello")[0]
	if d.SHA != head || d.Environment != "staging" {
		t.Errorf("deployment of %s to %s, want %s to staging", d.SHA, d.Environment, head)
	}
	if d.Statuses[0].State != "in_progress" || d.Statuses[1].State != "success" {
		t.Errorf("deployment statuses %s, %s; want in_progress, success", d.Statuses[0].State, d.Statuses[1].State)
	}
	for _, st := range d.Statuses {
		if m := signedJobLink.FindStringSubmatch(st.LogURL); m == nil || m[1] != "1" {
			t.Errorf("%s status has log_url %q, want the signed link to #1", st.State, st.LogURL)
		}
	}
	if st := s.gh.Statuses("acme/hello", head); len(st) != 0 {
		t.Errorf("the deploy set commit statuses %+v", st)
	}
}

func TestConsoleGitHubSettings(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(cfg, []byte("repos:\n  api: {path: .}\n  hello: {github: acme/hello}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"GitHub-only repo without a token", map[string]string{}, "gantry: GITHUB_TOKEN: is not set, and repo hello is on GitHub only (github: acme/hello, no path)"},
		{"bad API URL", map[string]string{"GITHUB_TOKEN": githubserver.Token, "GITHUB_API_URL": "ftp://x"}, `gantry: GITHUB_API_URL: "ftp://x" is not an http(s) URL`},
		{"token with spaces", map[string]string{"GITHUB_TOKEN": "ghp_a b"}, "gantry: GITHUB_TOKEN: GitHub token contains spaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["GANTRY_CONFIG"] = cfg
			tc.env["REDIS_URL"] = redistest.Start(t).URL()
			errOut := &syncBuffer{}
			m := &Main{Args: []string{"console"}, Getenv: func(k string) string { return tc.env[k] }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: errOut}
			defer m.Close()
			if code := m.Run(context.Background()); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			if !strings.Contains(errOut.String(), tc.want) {
				t.Errorf("stderr:\n%s\nwant %q", errOut, tc.want)
			}
		})
	}
}

func TestConsoleSaysWebhooksAreOffWithoutASecret(t *testing.T) {
	g := githubserver.New(t)
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(cfg, []byte("repos:\n  hello: {github: acme/hello}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg, "GANTRY_HTTP_ADDR": "127.0.0.1:0", "GITHUB_TOKEN": githubserver.Token, "GITHUB_API_URL": g.URL()})
	s.waitForLog(`GitHub webhooks are off: GITHUB_WEBHOOK_SECRET is not set`, 10*time.Second)
	addr := s.waitForLog(`msg="HTTP server listening" addr=(\S+)`, 10*time.Second)
	resp, err := http.Post("http://"+addr+"/webhooks/github", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusOK {
		t.Errorf("webhook answered %d with webhooks off", resp.StatusCode)
	}
}

func TestReplayedBodyWithNewDeliveryRunsNothing(t *testing.T) {
	s := startGitHubConsole(t)
	s.gh.open("build")
	sha := s.gh.commit(map[string]string{"README": "replay\n"}, "readme")
	body, err := json.Marshal(githubserver.PushPayload(s.gh.PushFor("acme/hello", "main")))
	if err != nil {
		t.Fatal(err)
	}
	if code, text := s.hook(hookSecret, "push", "delivery-original", body); code != http.StatusAccepted {
		t.Fatalf("the push answered %d %q, want 202", code, text)
	}
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 20*time.Second)
	s.gh.waitStatus(sha, "success")

	// The captured signed body, sent again under a delivery id GitHub never used.
	if code, text := s.hook(hookSecret, "push", "delivery-replayed", body); code != http.StatusAccepted || !strings.Contains(text, "already handled") {
		t.Errorf("the replay answered %d %q, want 202 already handled", code, text)
	}
	s.waitForLog(`GitHub webhook already handled: the same body came before as delivery delivery-original; replay ignored.*delivery=delivery-replayed`, 5*time.Second)
	s.typeLine("status #2")
	s.waitFor(`gantry > there is no job #2`, 5*time.Second)
	if st := s.gh.Statuses("acme/hello", sha); len(st) == 0 || st[len(st)-1].State != "success" {
		t.Errorf("statuses after the replay = %+v", st)
	}
}

func TestPullRequestWithNullHeadRepoIsNotBuilt(t *testing.T) {
	s := startGitHubConsole(t)
	s.gh.git("checkout", "--quiet", "-b", "feature")
	sha := s.gh.commit(map[string]string{"a.txt": "from a deleted fork\n"}, "fork change")
	body, err := json.Marshal(githubserver.PullRequestPayload(githubserver.PullRequest{
		Repo: "acme/hello", Number: 11, HeadRef: "feature", HeadSHA: sha, HeadRepoGone: true, CloneURL: s.gh.CloneURL("acme/hello"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"head":{`) || !strings.Contains(string(body), `"repo":null`) {
		t.Fatalf("the payload's head has no null repo:\n%s", body)
	}
	if code, text := s.hook(hookSecret, "pull_request", "pr-null-head", body); code != http.StatusAccepted {
		t.Fatalf("the pull request answered %d %q, want 202", code, text)
	}
	st := s.gh.waitStatus(sha, "error")
	if last := st[len(st)-1]; last.Context != "gantry/pr" || !strings.Contains(last.Description, "PRs from forks need a maintainer") {
		t.Errorf("status = %+v, want the fork notice", last)
	}
	s.waitForLog(`GitHub pull request from a fork not built automatically`, 5*time.Second)
	s.typeLine("queue")
	s.waitFor(`gantry > Nothing is queued or running\.`, 5*time.Second)
}

func TestWebhookProcessedAfterGantryWasKilledBetweenTheAnswerAndTheBuild(t *testing.T) {
	g := newGitHubServer(t)
	g.open("build")
	sha := g.commit(map[string]string{"README": "after a crash\n"}, "readme")
	redisSrv := redistest.Start(t)

	// The first gantry's HTTP side takes the push and answers 202; the
	// process dies before its consumer acts on it (none ever runs).
	first := web.NewInbox(rdb.New(redisSrv.Client()), web.InboxConfig{
		Handle: func(context.Context, *scm.WebhookEvent) error {
			t.Error("the first gantry acted on the webhook")
			return nil
		},
	})
	hook := httptest.NewServer(web.GitHubWebhook(web.WebhookConfig{Secret: []byte(hookSecret), Inbox: first}))
	defer hook.Close()
	resp, err := http.DefaultClient.Do(githubserver.SignedRequest(hook.URL, hookSecret, "push", "delivery-before-crash",
		githubserver.PushPayload(g.PushFor("acme/hello", "main"))))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the push answered %d, want 202", resp.StatusCode)
	}

	// The next gantry, on the same Redis, builds it and reports it.
	s := g.console(t, redisSrv.URL())
	s.waitFor(`#1 +┃ #1 build hello@main \(`+sha[:7]+`\) by GitHub: queued`, 15*time.Second)
	s.waitFor(`#1 +┃ ✅ #1 succeeded`, 20*time.Second)
	st := g.waitStatus(sha, "success")
	if st[0].State != "pending" || st[0].Description != "queued" {
		t.Errorf("first status %+v, want pending queued", st[0])
	}
	// Delivered again by GitHub, it is the same webhook: nothing more runs.
	if code, body := s.hook(hookSecret, "push", "delivery-before-crash", githubserver.PushPayload(g.PushFor("acme/hello", "main"))); code != http.StatusAccepted || !strings.Contains(body, "already handled") {
		t.Errorf("the redelivery answered %d %q", code, body)
	}
}

func TestStatusPostedAfterGantryWasKilledBeforeSendingIt(t *testing.T) {
	g := newGitHubServer(t)
	g.open("build")
	head := g.Head("acme/hello", "main")
	redisSrv := redistest.Start(t)
	g.FailNext(githubserver.RouteCreateStatus, 1_000_000, http.StatusBadGateway)

	first := g.console(t, redisSrv.URL())
	first.typeLine("build hello")
	first.waitFor(`#1 +┃ ✅ #1 succeeded`, 20*time.Second)
	// GitHub refuses every status: they wait in the outbox, the last one
	// (success) too, when gantry stops.
	rdb := redisSrv.Client()
	queue := "{gantry}:github:outbox:q:status:acme/hello@" + head
	deadline := time.Now().Add(10 * time.Second)
	for {
		items, _ := rdb.LRange(context.Background(), queue, 0, -1).Result()
		if len(items) > 0 && strings.Contains(items[len(items)-1], `"State":"success"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the success status never reached the outbox: %q", items)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A round of GitHub's own retries ends before a failed call is counted.
	failed := regexp.MustCompile(`gantry_external_call_errors_total\{call="create_status",service="github"\} [1-9]`)
	metrics := scrape(t, first.base)
	for deadline := time.Now().Add(30 * time.Second); !failed.MatchString(metrics) && time.Now().Before(deadline); {
		time.Sleep(200 * time.Millisecond)
		metrics = scrape(t, first.base)
	}
	if !failed.MatchString(metrics) || !regexp.MustCompile(`gantry_github_outbox_depth [1-9]`).MatchString(metrics) {
		t.Errorf("metrics while GitHub refuses statuses:\n%s", grepLines(metrics, "gantry_"))
	}
	first.stop()
	if n := len(g.Statuses("acme/hello", head)); n != 0 {
		t.Fatalf("%d statuses reached GitHub while it refused them", n)
	}

	g.ClearFaults()
	g.console(t, redisSrv.URL())
	// Pending statuses of a build that has ended since are stale and
	// dropped; its end is what GitHub must show.
	st := g.waitStatus(head, "success")
	if last := st[len(st)-1]; !strings.HasPrefix(last.Description, "succeeded in ") || last.Context != "gantry/build" ||
		!signedJobLink.MatchString(last.TargetURL) {
		t.Errorf("the status sent by the next gantry = %+v", last)
	}
	for _, s := range st[:len(st)-1] {
		if s.State != "pending" {
			t.Errorf("statuses out of order: %+v before the end", s)
		}
	}
}

// scrape returns gantry's /metrics page at base.
func scrape(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, ln := range strings.Split(s, "\n") {
		if strings.Contains(ln, sub) {
			out = append(out, ln)
		}
	}
	return strings.Join(out, "\n")
}
