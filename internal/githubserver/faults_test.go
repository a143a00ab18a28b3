package githubserver_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/internal/githubserver"
)

func TestFailNext(t *testing.T) {
	srv, gh, sha := setup(t)
	srv.FailNext(githubserver.RouteGetCommit, 2, http.StatusBadGateway)
	for i := range 2 {
		if _, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "main", ""); statusOf(err) != http.StatusBadGateway {
			t.Errorf("call %d: %v, want 502", i, err)
		}
	}
	// Other routes are not affected; the third call works.
	if _, _, err := gh.Repositories.Get(ctx, "acme", "hello"); err != nil {
		t.Error(err)
	}
	if got, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "main", ""); err != nil || got != sha {
		t.Errorf("after the faults: %q, %v", got, err)
	}
	calls := srv.Calls(githubserver.RouteGetCommit)
	if len(calls) != 3 || calls[0].Fault != "status" || calls[0].Status != 502 || calls[2].Fault != "" || calls[2].Status != 200 {
		t.Errorf("calls = %+v", calls)
	}

	srv.FailNext(githubserver.AnyRoute, 1, http.StatusInternalServerError)
	if _, _, err := gh.Repositories.Get(ctx, "acme", "hello"); statusOf(err) != http.StatusInternalServerError {
		t.Errorf("AnyRoute: %v", err)
	}
	srv.FailNext(githubserver.AnyRoute, 1, http.StatusServiceUnavailable)
	srv.ClearFaults()
	if _, _, err := gh.Repositories.Get(ctx, "acme", "hello"); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

func TestSecondaryRateLimit(t *testing.T) {
	srv, gh, sha := setup(t)
	srv.SecondaryRateLimit(githubserver.RouteCreateStatus, 1, time.Second)
	st := &github.RepoStatus{State: github.String("success")}
	_, resp, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, st)
	var abuse *github.AbuseRateLimitError
	if !errors.As(err, &abuse) || abuse.RetryAfter == nil || *abuse.RetryAfter != time.Second {
		t.Fatalf("err = %#v, want *github.AbuseRateLimitError with RetryAfter 1s", err)
	}
	if resp.Header.Get("Retry-After") != "1" || !strings.Contains(abuse.Message, "secondary rate limit") {
		t.Errorf("headers %v, message %q", resp.Header, abuse.Message)
	}
	// go-github holds further calls back until Retry-After has passed.
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, st); !errors.As(err, &abuse) {
		t.Errorf("second call: %v", err)
	}
	if n := srv.CallCount(githubserver.RouteCreateStatus); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
	time.Sleep(time.Second)
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, st); err != nil {
		t.Errorf("after Retry-After: %v", err)
	}
	if n := len(srv.Statuses("acme/hello", sha)); n != 1 {
		t.Errorf("statuses = %d, want 1", n)
	}

	// Without Retry-After.
	srv.SecondaryRateLimit(githubserver.RouteGetRepo, 1, 0)
	_, resp, err = gh.Repositories.Get(ctx, "acme", "hello")
	if !errors.As(err, &abuse) || abuse.RetryAfter != nil || resp.Header.Get("Retry-After") != "" {
		t.Errorf("without Retry-After: %v", err)
	}
}

func TestPrimaryRateLimit(t *testing.T) {
	srv, gh, _ := setup(t)
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	srv.PrimaryRateLimit(githubserver.RouteGetRepo, 1, reset)
	_, _, err := gh.Repositories.Get(ctx, "acme", "hello")
	var rl *github.RateLimitError
	if !errors.As(err, &rl) || rl.Rate.Remaining != 0 || !rl.Rate.Reset.Time.Equal(reset) || rl.Rate.Limit != githubserver.RateLimit {
		t.Fatalf("err = %#v, want *github.RateLimitError resetting at %v", err, reset)
	}
	// go-github refuses every call until reset, without asking the server.
	if _, _, err := gh.Repositories.GetCommitSHA1(ctx, "acme", "hello", "main", ""); !errors.As(err, &rl) {
		t.Errorf("next call: %v", err)
	}
	if n := srv.CallCount(githubserver.AnyRoute); n != 1 {
		t.Errorf("calls = %d, want 1", n)
	}
	// A fresh client is not held back: the fault was for one call.
	if _, _, err := client(t, srv, githubserver.Token).Repositories.Get(ctx, "acme", "hello"); err != nil {
		t.Errorf("fresh client: %v", err)
	}
}

func TestDropNext(t *testing.T) {
	srv, gh, sha := setup(t)
	srv.DropNext(githubserver.RouteCreateStatus, 1)
	_, _, err := gh.Repositories.CreateStatus(ctx, "acme", "hello", sha, &github.RepoStatus{State: github.String("success")})
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %#v, want a *url.Error", err)
	}
	calls := srv.Calls(githubserver.RouteCreateStatus)
	if len(calls) != 1 || calls[0].Fault != "drop" || calls[0].Status != 0 {
		t.Errorf("calls = %+v", calls)
	}
	if len(srv.Statuses("acme/hello", sha)) != 0 {
		t.Error("a dropped call must not do anything")
	}
}

func TestRateLimitHeaders(t *testing.T) {
	_, gh, _ := setup(t)
	_, resp, err := gh.Repositories.Get(ctx, "acme", "hello")
	if err != nil {
		t.Fatal(err)
	}
	_, resp2, err := gh.Repositories.Get(ctx, "acme", "hello")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rate.Limit != githubserver.RateLimit || resp.Rate.Remaining != githubserver.RateLimit-1 ||
		resp2.Rate.Remaining != githubserver.RateLimit-2 || time.Until(resp.Rate.Reset.Time) < 59*time.Minute {
		t.Errorf("rates = %+v, %+v", resp.Rate, resp2.Rate)
	}
}
