package githubserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/changes"
)

// Token is the token the server accepts unless WithToken says otherwise. It
// has the shape of a GitHub personal access token, so that redaction of
// tokens can be tested with it.
const Token = "ghp_githubserverTestToken000000000000001"

// RateLimit is the hourly primary rate limit the server reports in its
// X-RateLimit-* headers. Reaching it for real answers 403 as GitHub does.
const RateLimit = 5000

// BotLogin is the login the server attributes statuses and deployments to:
// the owner of the token.
const BotLogin = "gantry-bot"

// Route names one endpoint, as GitHub's REST API documentation writes it.
// Faults and Calls are kept per route.
type Route string

// The routes the server answers. AnyRoute matches every route in FailNext
// and the other fault methods.
const (
	RouteGetRepo                Route = "GET /repos/{owner}/{repo}"
	RouteGetCommit              Route = "GET /repos/{owner}/{repo}/commits/{ref}"
	RouteGetContents            Route = "GET /repos/{owner}/{repo}/contents/{path}"
	RouteCreateStatus           Route = "POST /repos/{owner}/{repo}/statuses/{sha}"
	RouteCreateDeployment       Route = "POST /repos/{owner}/{repo}/deployments"
	RouteCreateDeploymentStatus Route = "POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses"

	AnyRoute Route = "*"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	token      string
	logTraffic bool
}

// WithToken makes the server accept token instead of Token.
func WithToken(token string) Option {
	return func(c *config) { c.token = token }
}

// WithTrafficLog logs every call with tb.Logf, for debugging a test.
func WithTrafficLog() Option {
	return func(c *config) { c.logTraffic = true }
}

// Server is a fake GitHub REST API. Create it with New; all methods are safe
// for concurrent use.
type Server struct {
	tb   testing.TB
	cfg  config
	http *httptest.Server

	mu      sync.Mutex
	changes changes.Signal // wakes WaitFor on every state change
	closed  bool
	ids     int64 // counter behind ids and generated SHAs

	repos       map[string]*repo // by lower-case owner/name
	deployments map[int64]*Deployment
	calls       []Call
	faults      map[Route][]*fault
	logins      map[string]string // by lower-case commit author email (AddUser)

	rateUsed  int
	rateReset time.Time
}

// New starts a Server and registers its Close with tb.Cleanup. tb is also
// where the server reports misuse and requests it cannot understand.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	cfg := config{token: Token}
	for _, o := range opts {
		o(&cfg)
	}
	s := &Server{
		tb:          tb,
		cfg:         cfg,
		repos:       map[string]*repo{},
		deployments: map[int64]*Deployment{},
		faults:      map[Route][]*fault{},
	}
	mux := http.NewServeMux()
	s.handle(mux, RouteGetRepo, "GET /repos/{owner}/{repo}", s.getRepo)
	s.handle(mux, RouteGetCommit, "GET /repos/{owner}/{repo}/commits/{ref...}", s.getCommit)
	s.handle(mux, RouteGetContents, "GET /repos/{owner}/{repo}/contents", s.getContents)
	s.handle(mux, RouteGetContents, "GET /repos/{owner}/{repo}/contents/{path...}", s.getContents)
	s.handle(mux, RouteCreateStatus, "POST /repos/{owner}/{repo}/statuses/{sha}", s.createStatus)
	s.handle(mux, RouteCreateDeployment, "POST /repos/{owner}/{repo}/deployments", s.createDeployment)
	s.handle(mux, RouteCreateDeploymentStatus, "POST /repos/{owner}/{repo}/deployments/{id}/statuses", s.createDeploymentStatus)
	s.handle(mux, RouteCombinedStatus, "GET /repos/{owner}/{repo}/commits/{ref}/status", s.combinedStatus)
	s.handle(mux, RouteListCheckRuns, "GET /repos/{owner}/{repo}/commits/{ref}/check-runs", s.listCheckRuns)
	s.handle(mux, RouteRequiredStatusChecks, "GET /repos/{owner}/{repo}/branches/{branch}/protection/required_status_checks", s.requiredStatusChecks)
	s.handle(mux, RouteCompare, "GET /repos/{owner}/{repo}/compare/{basehead...}", s.compare)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.record(Call{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Status: http.StatusNotFound, Time: time.Now()})
		s.logf("githubserver: request for an endpoint it does not implement: %s %s", r.Method, r.URL.Path)
		writeJSON(w, http.StatusNotFound, nil, notFound())
	})
	// GitHub Enterprise serves the API under /api/v3; go-github's
	// WithEnterpriseURLs adds that prefix to hosts it does not recognise.
	enterprise := http.StripPrefix("/api/v3", mux)
	s.http = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v3/") {
			enterprise.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	tb.Cleanup(s.Close)
	return s
}

// URL is the server's base URL without a trailing slash. go-github's
// BaseURL is URL()+"/"; client.WithEnterpriseURLs(URL(), URL()) works too.
func (s *Server) URL() string { return s.http.URL }

// Close stops the server. It is called by the cleanup New registers; calling
// it again does nothing.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	s.http.CloseClientConnections()
	s.http.Close()
}

// notifyLocked wakes everything waiting for a change. s.mu must be held.
func (s *Server) notifyLocked() {
	s.changes.Notify()
}

// logf logs through the test while the server is open.
func (s *Server) logf(format string, args ...any) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.tb.Logf(format, args...)
	}
}

// errorf reports misuse of the server by the test.
func (s *Server) errorf(format string, args ...any) {
	s.tb.Helper()
	s.tb.Errorf("githubserver: "+format, args...)
}

func (s *Server) nextIDLocked() int64 {
	s.ids++
	return s.ids
}

// Call is one request the server received.
type Call struct {
	Route  Route // "" for a path the server does not implement
	Method string
	Path   string // without any /api/v3 prefix
	Query  string // raw query
	Header http.Header
	Body   []byte
	Status int    // the HTTP status answered; 0 for a dropped connection
	Fault  string // "" or what was injected: "status", "secondary", "primary", "drop"
	Time   time.Time
}

// Decode decodes the call's JSON body into v.
func (c Call) Decode(v any) error {
	if err := json.Unmarshal(c.Body, v); err != nil {
		return fmt.Errorf("githubserver: decode body of %s %s: %w", c.Method, c.Path, err)
	}
	return nil
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
	s.notifyLocked()
}

// Calls returns the calls of the given routes (every call when none is
// given) in the order they arrived.
func (s *Server) Calls(routes ...Route) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(routes) == 0 || containsRoute(routes, c.Route) {
			c.Header = c.Header.Clone()
			c.Body = bytes.Clone(c.Body)
			out = append(out, c)
		}
	}
	return out
}

// CallCount returns how many calls of route have arrived; AnyRoute counts
// every call.
func (s *Server) CallCount(route Route) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if route == AnyRoute || c.Route == route {
			n++
		}
	}
	return n
}

func containsRoute(routes []Route, r Route) bool {
	for _, x := range routes {
		if x == r || x == AnyRoute {
			return true
		}
	}
	return false
}

// response is what a handler answers.
type response struct {
	status int
	header http.Header
	body   any // marshalled as JSON, or written as is when []byte
}

func reply(status int, body any) response { return response{status: status, body: body} }

// apiError is GitHub's error body.
type apiError struct {
	Message          string            `json:"message"`
	Errors           []json.RawMessage `json:"errors,omitempty"`
	DocumentationURL string            `json:"documentation_url,omitempty"`
	Status           string            `json:"status,omitempty"`
}

func errorReply(status int, msg string) response {
	return reply(status, apiError{Message: msg, DocumentationURL: "https://docs.github.com/rest", Status: strconv.Itoa(status)})
}

func notFound() apiError {
	return apiError{Message: "Not Found", DocumentationURL: "https://docs.github.com/rest", Status: "404"}
}

// validationFailed is GitHub's 422 for a field it does not accept.
func validationFailed(resource, field, msg string) response {
	e, _ := json.Marshal(map[string]string{"resource": resource, "code": "custom", "field": field, "message": msg})
	return reply(http.StatusUnprocessableEntity, apiError{
		Message: "Validation Failed", Errors: []json.RawMessage{e},
		DocumentationURL: "https://docs.github.com/rest", Status: "422",
	})
}

type handlerFunc func(r *http.Request, body []byte) response

// handle registers h for pattern under route: every request is recorded,
// checked for the token, given any fault queued for the route, and answered
// with rate limit headers.
func (s *Server) handle(mux *http.ServeMux, route Route, pattern string, h handlerFunc) {
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		call := Call{Route: route, Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Time: time.Now()}
		if err != nil {
			call.Status = http.StatusBadRequest
			s.record(call)
			writeJSON(w, http.StatusBadRequest, nil, apiError{Message: "Problems reading the body: " + err.Error()})
			return
		}
		resp, fault := s.serve(route, h, r, body)
		call.Status, call.Fault = resp.status, fault
		if fault == "drop" {
			call.Status = 0
			s.record(call)
			s.trace(call)
			dropConnection(w)
			return
		}
		s.record(call)
		s.trace(call)
		writeJSON(w, resp.status, resp.header, resp.body)
	})
}

func (s *Server) serve(route Route, h handlerFunc, r *http.Request, body []byte) (response, string) {
	if f := s.takeFault(route); f != nil {
		return f.response(s), f.kind
	}
	if resp, ok := s.authorize(r); !ok {
		return resp, ""
	}
	rate, limited := s.countRate()
	if limited {
		return primaryLimited(rate.reset), ""
	}
	resp := h(r, body)
	resp.header = mergeHeader(resp.header, rate.header())
	return resp, ""
}

func (s *Server) trace(c Call) {
	if s.cfg.logTraffic {
		s.logf("githubserver: %s %s?%s -> %d %s %s", c.Method, c.Path, c.Query, c.Status, c.Fault, shorten(string(c.Body), 300))
	}
}

// authorize checks the Authorization header as GitHub does: "Bearer TOKEN"
// or "token TOKEN".
func (s *Server) authorize(r *http.Request) (response, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errorReply(http.StatusUnauthorized, "Requires authentication"), false
	}
	scheme, tok, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "bearer", "token":
	default:
		return errorReply(http.StatusUnauthorized, "Bad credentials"), false
	}
	if strings.TrimSpace(tok) != s.cfg.token {
		return errorReply(http.StatusUnauthorized, "Bad credentials"), false
	}
	return response{}, true
}

type rateState struct {
	used  int
	reset time.Time
}

func (r rateState) header() http.Header {
	h := http.Header{}
	h.Set("X-RateLimit-Limit", strconv.Itoa(RateLimit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(max(0, RateLimit-r.used)))
	h.Set("X-RateLimit-Used", strconv.Itoa(r.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(r.reset.Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	return h
}

// countRate counts one authenticated call against the hourly limit.
func (s *Server) countRate() (rateState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if s.rateReset.IsZero() || !now.Before(s.rateReset) {
		s.rateUsed = 0
		s.rateReset = now.Add(time.Hour).Truncate(time.Second)
	}
	if s.rateUsed >= RateLimit {
		return rateState{used: s.rateUsed, reset: s.rateReset}, true
	}
	s.rateUsed++
	return rateState{used: s.rateUsed, reset: s.rateReset}, false
}

func mergeHeader(dst, src http.Header) http.Header {
	if dst == nil {
		dst = http.Header{}
	}
	for k, v := range src {
		if _, ok := dst[k]; !ok {
			dst[k] = v
		}
	}
	return dst
}

func writeJSON(w http.ResponseWriter, status int, header http.Header, body any) {
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("X-GitHub-Request-Id", "GHS0:"+strconv.FormatInt(time.Now().UnixNano(), 16))
	w.Header().Set("X-GitHub-Api-Version-Selected", "2022-11-28")
	var data []byte
	switch b := body.(type) {
	case nil:
		if status == http.StatusNotModified || status == http.StatusNoContent {
			w.WriteHeader(status)
			return
		}
		data = []byte("{}")
	case []byte:
		data = b
	default:
		var err error
		data, err = json.Marshal(b)
		if err != nil {
			status, data = http.StatusInternalServerError, []byte(`{"message":"githubserver: `+err.Error()+`"}`)
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
