package scm_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

const gantryYML = `image: golang:1.26
pipelines:
  branch: {steps: [go test ./...]}
deploy:
  staging: {branch: main, steps: [./deploy.sh staging]}
`

// logBuffer collects slog output for assertions; safe for concurrent use and
// for use after the test's end.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// fixture is a fake GitHub with acme/hello (default branch main) and a
// client of it.
type fixture struct {
	srv  *githubserver.Server
	gh   *scm.GitHub
	logs *logBuffer
	sha  string // head of main
}

func setup(t *testing.T, cfg scm.GitHubConfig) *fixture {
	t.Helper()
	srv := githubserver.New(t)
	srv.AddRepo("acme/hello", "main")
	sha := srv.AddCommit("acme/hello", "main", map[string]string{".gantry.yml": gantryYML, "main.go": "package main\n"})
	logs := &logBuffer{}
	if cfg.Token == "" {
		cfg.Token = githubserver.Token
	}
	if cfg.APIURL == "" {
		cfg.APIURL = srv.URL()
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase = time.Millisecond
	}
	cfg.Logger = logs.logger()
	gh, err := scm.NewGitHub(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client log:\n%s\nserver:\n%s", logs, srv.Summary())
		}
	})
	return &fixture{srv: srv, gh: gh, logs: logs, sha: sha}
}

// userMessage returns the UserError sentence in err's chain, or fails.
func userMessage(t *testing.T, err error) string {
	t.Helper()
	var ue *jobs.UserError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v (%T), want a *jobs.UserError", err, err)
	}
	return ue.Msg.String()
}

func wantPermanent(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, jobs.ErrPermanent) {
		t.Errorf("err = %v, want it marked permanent", err)
	}
}

// newStore is a job store on a Redis of the test's own, and the Redis
// layer on the same Redis, where Reporters keep their outbox.
func newStore(t *testing.T) (*jobs.Store, *rdb.Client) {
	t.Helper()
	srv := redistest.Start(t)
	return jobs.NewStore(srv.RDB(), jobs.StoreConfig{}), rdb.New(srv.Client())
}

// newReporter is a Reporter sending through gh, with a Redis of its own.
func newReporter(t *testing.T, gh *scm.GitHub, cfg scm.ReporterConfig) *scm.Reporter {
	t.Helper()
	store, r := newStore(t)
	return scm.NewReporter(gh, store, r, cfg)
}

// runReporter starts r.Run and stops it at the end of the test.
func runReporter(t *testing.T, r *scm.Reporter) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Reporter.Run did not return 10 s after its context ended")
		}
	})
	return cancel
}

func contains(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
