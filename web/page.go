package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"

	"context"
)

type pageData struct {
	Job      *jobs.Job
	Title    string
	State    string
	Who      string
	Retried  string // who asked again, after the first request
	Times    jobTimes
	Steps    []stepRow
	Log      template.HTML
	From     int64 // where the lines shown start; earlier ones load on demand
	Offset   int64 // where the live stream goes on
	Next     int64 // the number of the first line the live stream brings
	Runs     int   // step runs shown: the live stream numbers new ones on
	Query    string
	RawURL   string
	Live     bool
	Reason   string
	ExitCode string
	Commit   string // the commit's page on GitHub, where the job's repository is known
	Pull     string // the pull request's page, for pr builds
	ListURL  string // the list of jobs, where it is open to all
	Results  *resultsView
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	d, err := s.pageData(r, j)
	if err != nil {
		s.d.Logger.Error("read log for page", "job", j.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	if err := pages.ExecuteTemplate(w, "job", d); err != nil {
		s.d.Logger.Error("render job page", "job", j.ID, "err", err)
	}
}

// setPageHeaders are the headers of every HTML page: its own scripts and
// styles only, nothing fetched from elsewhere, no referrer (links carry
// signatures).
func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// pageData reads what job j's page shows: the end of its log, drawn in
// sections with numbered lines, and the facts of its record.
func (s *Server) pageData(r *http.Request, j *jobs.Job) (*pageData, error) {
	ctx := r.Context()
	v, err := s.view(ctx, j)
	if err != nil {
		return nil, err
	}
	shown, from, to, err := s.readTail(ctx, j, v.size)
	if err != nil {
		return nil, err
	}
	first, err := v.lineAt(ctx, s.d.Log, j.ID, from)
	if err != nil {
		return nil, err
	}
	q := s.query(r)
	d := &pageData{
		Job: j, Title: fmt.Sprintf("#%d %s %s", j.ID, j.What(), j.Target()), State: string(j.State), Who: "GitHub",
		Times: timesOf(j, time.Now()), Steps: v.rows(),
		Log: template.HTML(v.render(shown, from, first)), From: from, Offset: to,
		Next: first + int64(bytes.Count(shown, []byte("\n"))), Runs: len(v.steps), Query: q,
		RawURL: fmt.Sprintf("/jobs/%d/log?%s", j.ID, q), Live: !j.State.Final(), Reason: s.plain(ctx, j.Reason),
		Commit: s.githubPage(j.GitHub, "commit", j.SHA),
	}
	if j.Requester != "" {
		d.Who = s.person(ctx, j.Requester)
	}
	if len(j.Requesters) > 1 { // the first request, then each retry
		retried := make([]string, len(j.Requesters)-1)
		for i, u := range j.Requesters[1:] {
			retried[i] = s.person(ctx, u)
		}
		d.Who, d.Retried = s.person(ctx, j.Requesters[0]), strings.Join(retried, ", ")
	}
	if j.PR > 0 {
		d.Pull = s.githubPage(j.GitHub, "pull", strconv.Itoa(j.PR))
	}
	if j.HasExit {
		d.ExitCode = strconv.Itoa(j.ExitCode)
	}
	if s.d.Public {
		d.ListURL = "/jobs"
	}
	d.Results = s.results(j, q)
	return d, nil
}

// plain is t as the page shows it: text with people by name, which the
// template escapes.
func (s *Server) plain(ctx context.Context, t say.Text) string { return t.Console(ctx, s.d.Names) }

// person is how the page names a person.
func (s *Server) person(ctx context.Context, id string) string {
	return s.plain(ctx, say.PersonOf(id))
}

// githubRepo is the shape of an owner/name the page links to.
var githubRepo = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)

// githubPage is the page of a repository's commit or pull request on
// GitHub (or the Enterprise server Deps.GitHubURL names), or "" when the
// job's repository on GitHub is not known.
func (s *Server) githubPage(repo, kind, what string) string {
	if !githubRepo.MatchString(repo) || what == "" {
		return ""
	}
	return s.d.GitHubURL + "/" + repo + "/" + kind + "/" + url.PathEscape(what)
}

// events streams a job's new output and its state as Server-Sent Events
// until the job ends: "log" events carry rendered lines, "state" events
// the job's state, and "end" closes the stream.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	from, _ := strconv.ParseInt(r.URL.Query().Get("from"), 10, 64)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	ctx := r.Context()
	var a ansi
	last := ""
	// The stream outlives the server's write timeout: each write gets a
	// fresh one, so only a reader that stopped reading is cut off.
	s.extendWrite(w)
	sendState := func(j *jobs.Job) {
		b, _ := json.Marshal(stateEvent{
			State: j.State, Step: j.Step, Steps: len(j.Plan.Steps), Reason: s.plain(ctx, j.Reason),
			Exit: exitOf(j), jobTimes: timesOf(j, time.Now()),
		})
		if string(b) != last {
			s.extendWrite(w)
			fmt.Fprintf(w, "event: state\ndata: %s\n\n", b)
			last = string(b)
		}
	}
	sendState(j)
	fl.Flush()
	var ended bool
	_, err := s.d.Log.Follow(ctx, j.ID, from, s.d.Poll, func() bool {
		cur, err := s.d.Store.Get(ctx, j.ID)
		if err == nil {
			sendState(cur)
			fl.Flush()
			ended = cur.State.Final()
		}
		return ended
	}, func(chunk []byte) error {
		s.extendWrite(w)
		fmt.Fprint(w, "event: log\n")
		for _, ln := range bytes.Split(bytes.TrimSuffix(chunk, []byte("\n")), []byte("\n")) {
			fmt.Fprintf(w, "data: %s\n", a.Line(string(ln)))
		}
		fmt.Fprint(w, "\n")
		fl.Flush()
		return ctx.Err()
	})
	if err == nil && ended {
		s.extendWrite(w)
		fmt.Fprint(w, "event: end\ndata: done\n\n")
		fl.Flush()
	}
}

// stateEvent is what a "state" event tells a live page.
type stateEvent struct {
	State  jobs.State `json:"state"`
	Step   int        `json:"step"`
	Steps  int        `json:"steps"`
	Reason string     `json:"reason"`
	Exit   any        `json:"exit"`
	jobTimes
}

func exitOf(j *jobs.Job) any {
	if j.HasExit {
		return j.ExitCode
	}
	return nil
}
