package githubserver

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// The documentation URLs GitHub puts into rate limit errors. go-github tells
// a secondary rate limit from other 403s by the suffix of the first.
const (
	secondaryLimitDocs = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
	primaryLimitDocs   = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-primary-rate-limits"
)

type fault struct {
	n          int // calls left
	kind       string
	status     int
	retryAfter time.Duration
	reset      time.Time
}

func (f *fault) response(s *Server) response {
	switch f.kind {
	case "secondary":
		r := reply(http.StatusForbidden, apiError{
			Message: "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. " +
				"If you reach out to GitHub Support for help, please include the request ID GHS0:githubserver.",
			DocumentationURL: secondaryLimitDocs,
		})
		r.header = http.Header{}
		if f.retryAfter > 0 {
			secs := int64((f.retryAfter + time.Second - 1) / time.Second)
			r.header.Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		// No X-RateLimit-* headers: go-github would take X-RateLimit-Reset
		// for the end of the secondary limit.
		return r
	case "primary":
		return primaryLimited(f.reset)
	default:
		return reply(f.status, apiError{Message: statusMessage(f.status)})
	}
}

func statusMessage(status int) string {
	switch status {
	case http.StatusInternalServerError:
		return "Server Error"
	case http.StatusBadGateway:
		return "Bad Gateway"
	case http.StatusServiceUnavailable:
		return "Service Unavailable"
	}
	if t := http.StatusText(status); t != "" {
		return t
	}
	return fmt.Sprintf("HTTP %d", status)
}

// primaryLimited is GitHub's answer once the hourly allowance is used up.
func primaryLimited(reset time.Time) response {
	r := reply(http.StatusForbidden, apiError{
		Message:          "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID GHS0:githubserver.",
		DocumentationURL: primaryLimitDocs,
	})
	r.header = http.Header{}
	r.header.Set("X-RateLimit-Limit", strconv.Itoa(RateLimit))
	r.header.Set("X-RateLimit-Remaining", "0")
	r.header.Set("X-RateLimit-Used", strconv.Itoa(RateLimit))
	r.header.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	r.header.Set("X-RateLimit-Resource", "core")
	return r
}

func (s *Server) addFault(route Route, f *fault) {
	if f.n <= 0 {
		s.errorf("a fault for %s needs n > 0, got %d", route, f.n)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[route] = append(s.faults[route], f)
}

// takeFault returns the fault that applies to the next call of route, if
// any: faults for the route first, then those for AnyRoute, in the order
// they were added.
func (s *Server) takeFault(route Route) *fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []Route{route, AnyRoute} {
		q := s.faults[key]
		if len(q) == 0 {
			continue
		}
		f := q[0]
		f.n--
		if f.n == 0 {
			s.faults[key] = q[1:]
		}
		return f
	}
	return nil
}

// FailNext makes the next n calls of route answer the HTTP status (such as
// 500, 502 or 503) with GitHub's JSON error body, without doing anything.
func (s *Server) FailNext(route Route, n int, status int) {
	if status < 400 {
		s.errorf("FailNext(%s) needs an error status, got %d", route, status)
		return
	}
	s.addFault(route, &fault{n: n, kind: "status", status: status})
}

// SecondaryRateLimit makes the next n calls of route answer 403 as GitHub's
// secondary rate limit does, with a Retry-After header of retryAfter in whole
// seconds (none when retryAfter is zero). go-github returns
// *github.AbuseRateLimitError and refuses further calls itself until
// Retry-After has passed.
func (s *Server) SecondaryRateLimit(route Route, n int, retryAfter time.Duration) {
	s.addFault(route, &fault{n: n, kind: "secondary", retryAfter: retryAfter})
}

// PrimaryRateLimit makes the next n calls of route answer 403 with
// X-RateLimit-Remaining: 0 and X-RateLimit-Reset: reset, as GitHub does once
// the hourly allowance is used up. go-github returns *github.RateLimitError
// and refuses further calls itself until reset.
func (s *Server) PrimaryRateLimit(route Route, n int, reset time.Time) {
	s.addFault(route, &fault{n: n, kind: "primary", reset: reset})
}

// DropNext makes the next n calls of route close the connection without an
// answer, as a network failure would. Go's transport retries an idempotent
// request (GET) once on its own when the connection was reused, so a GET may
// show two calls per failure.
func (s *Server) DropNext(route Route, n int) {
	s.addFault(route, &fault{n: n, kind: "drop"})
}

// ClearFaults removes every fault not yet used.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = map[Route][]*fault{}
}
