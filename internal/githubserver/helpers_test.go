package githubserver_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"testing"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

// client returns the real go-github client pointed at srv with token.
func client(t *testing.T, srv *githubserver.Server, token string) *github.Client {
	t.Helper()
	base, err := url.Parse(srv.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	c := github.NewClient(nil).WithAuthToken(token)
	c.BaseURL, c.UploadURL = base, base
	return c
}

// setup starts a server with acme/hello holding one commit on main.
func setup(t *testing.T) (*githubserver.Server, *github.Client, string) {
	t.Helper()
	srv := githubserver.New(t)
	srv.AddRepo("acme/hello", "main")
	sha := srv.AddCommit("acme/hello", "main", map[string]string{
		".gantry.yml": "image: golang:1.26\npipelines:\n  branch: {steps: [go test ./...]}\n",
		"main.go":     "package main\n",
	})
	return srv, client(t, srv, githubserver.Token), sha
}

// statusOf returns the HTTP status of a go-github error, or 0.
func statusOf(err error) int {
	switch e := err.(type) {
	case *github.ErrorResponse:
		return e.Response.StatusCode
	case *github.RateLimitError:
		return e.Response.StatusCode
	case *github.AbuseRateLimitError:
		return e.Response.StatusCode
	}
	return 0
}

var ctx = context.Background()

// fakeTB records what the server reports with Errorf instead of failing the
// test, so tests can check that misuse is reported.
type fakeTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Helper() {}
