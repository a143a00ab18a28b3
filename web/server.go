// Package web is gantry's HTTP server: the GitHub webhook, job pages with
// their live logs, /metrics, /healthz and /readyz.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// Deps are what the server serves from. Webhook and Metrics may be nil.
type Deps struct {
	Store *jobs.Store
	Log   *jobs.Log
	Links *Links
	// Public opens job pages and the list of jobs (/jobs) without a
	// signed link (web.public); see list.go for whom the list shows.
	Public bool
	// PublicChannels are the private channels whose jobs' pages are open
	// too when Public is set, and whose jobs the list shows; other private
	// channels' pages never are, and their jobs are never listed.
	PublicChannels []string
	// GitHubURL is where job pages link commits and pull requests of
	// jobs whose GitHub repository is known: GitHub Enterprise's address,
	// or "" for https://github.com.
	GitHubURL string
	// Names gives people's display names (Slack's users.info, cached);
	// nil shows their ids.
	Names   say.Names
	Webhook http.Handler
	Metrics *Metrics
	Logger  *slog.Logger
	// Poll is how often a live page looks for new output; 0 is 250ms.
	Poll      time.Duration
	Limits    Limits
	Artifacts Artifacts // where jobs' artifacts are; zero: none served
	// ProbesOnly serves /healthz, /readyz and /metrics and nothing else:
	// a worker's server, which has no pages, links or webhook.
	ProbesOnly bool
}

// Limits bound how long and how much one client can hold the server.
// Zero values are the defaults.
type Limits struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers; 0 is 10 s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a client may take to send a whole request,
	// body included; 0 is 30 s.
	ReadTimeout time.Duration
	// WriteTimeout is how long a response may take to be written. Streams
	// (the raw log, a page's live output) get it afresh for each write,
	// so a reader that keeps reading is never cut off and one that stops
	// is; 0 is 60 s.
	WriteTimeout time.Duration
	// IdleTimeout is how long a kept-alive connection may wait for its
	// next request; 0 is 60 s.
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers; 0 is 64 KiB.
	MaxHeaderBytes int
}

func (l Limits) withDefaults() Limits {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&l.ReadHeaderTimeout, 10*time.Second)
	def(&l.ReadTimeout, 30*time.Second)
	def(&l.WriteTimeout, time.Minute)
	def(&l.IdleTimeout, time.Minute)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 64 << 10
	}
	return l
}

// Server serves gantry's HTTP endpoints.
type Server struct {
	d     Deps
	mux   *http.ServeMux
	steps stepIndex // the step markers of the logs pages have shown
}

// New returns the server.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Poll <= 0 {
		d.Poll = 250 * time.Millisecond
	}
	d.Limits = d.Limits.withDefaults()
	d.GitHubURL = strings.TrimRight(d.GitHubURL, "/")
	if d.GitHubURL == "" {
		d.GitHubURL = "https://github.com"
	}
	s := &Server{d: d, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	s.mux.HandleFunc("GET /readyz", s.ready)
	if d.Metrics != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics.Registry, promhttp.HandlerOpts{}))
	}
	if d.ProbesOnly {
		return s
	}
	s.mux.HandleFunc("GET /{$}", s.home)
	s.mux.HandleFunc("GET /jobs", s.jobList)
	s.mux.HandleFunc("GET /jobs/{id}", s.jobPage)
	s.mux.HandleFunc("GET /jobs/{id}/log", s.rawLog)
	s.mux.HandleFunc("GET /jobs/{id}/lines", s.earlierLines)
	s.mux.HandleFunc("GET /jobs/{id}/events", s.events)
	s.mux.HandleFunc("GET /jobs/{id}/artifacts/{path...}", s.artifact)
	s.mux.HandleFunc("/preview/{id}/{path...}", s.preview)
	s.mux.HandleFunc("/preview/{id}", func(w http.ResponseWriter, r *http.Request) {
		u := *r.URL
		u.Path += "/"
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	})
	if d.Webhook != nil {
		s.mux.Handle("POST /webhooks/github", d.Webhook)
	}
	return s
}

// Handler is the server's handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Serve serves on l until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	lim := s.d.Limits
	srv := &http.Server{
		Handler: s.mux, ReadHeaderTimeout: lim.ReadHeaderTimeout, ReadTimeout: lim.ReadTimeout,
		WriteTimeout: lim.WriteTimeout, IdleTimeout: lim.IdleTimeout, MaxHeaderBytes: lim.MaxHeaderBytes,
		ErrorLog: slog.NewLogLogger(s.d.Logger.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.d.Store.Ping(ctx); err != nil {
		http.Error(w, "redis unreachable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// job reads the job a request names, after checking its link. It writes
// the error response itself and returns nil when the request may not go on.
func (s *Server) job(w http.ResponseWriter, r *http.Request) *jobs.Job {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "not a job number: "+r.PathValue("id"), http.StatusNotFound)
		return nil
	}
	// The link is checked before the record is read, so that a stranger
	// learns nothing, not even whether the job exists; a job from a private
	// channel is then checked again, since web.public does not open it.
	if !s.d.Public && !s.linkOK(w, r, id) {
		return nil
	}
	j, err := s.d.Store.Get(r.Context(), id)
	if errors.Is(err, jobs.ErrNotFound) {
		http.Error(w, fmt.Sprintf("there is no job #%d", id), http.StatusNotFound)
		return nil
	}
	if err != nil {
		s.d.Logger.Error("read job for page", "job", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil
	}
	if s.d.Public && j.Private && !slices.Contains(s.d.PublicChannels, j.Channel) && !s.linkOK(w, r, id) {
		return nil
	}
	return j
}

// linkOK checks the request's signed link for job id, answering 403 when
// it does not hold.
func (s *Server) linkOK(w http.ResponseWriter, r *http.Request, id int64) bool {
	if err := s.d.Links.Check(id, r.URL.Query()); err != nil {
		s.d.Logger.Info("refused job page", "job", id, "why", err, "remote", r.RemoteAddr)
		http.Error(w, err.Error()+": ask gantry for a fresh link (`logs #"+strconv.FormatInt(id, 10)+"`)", http.StatusForbidden)
		return false
	}
	return true
}

// query is the signed query to carry on links within a page.
func (s *Server) query(r *http.Request) string {
	q := r.URL.Query()
	if q.Get("sig") == "" {
		return "" // an open page: nothing to carry
	}
	return "exp=" + q.Get("exp") + "&sig=" + q.Get("sig")
}
