package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// pageLogBytes is how much of the log the page itself carries; the rest is
// behind the raw log link.
const pageLogBytes = 1 << 20

type stepRow struct {
	N        int
	Name     string
	Result   string
	Duration string
}

type pageData struct {
	Job      *jobs.Job
	Title    string
	State    string
	Who      string
	Elapsed  string
	Steps    []stepRow
	Log      template.HTML
	Cut      bool
	Offset   int64
	Query    string
	RawURL   string
	Live     bool
	Reason   string
	ExitCode string
}

var stepStart = regexp.MustCompile(`^── step (\d+)/\d+: (.*)$`)
var stepEnd = regexp.MustCompile(`^── step (\d+)/\d+ (succeeded|failed with exit code \d+) in (\S+): `)

// steps reads the step markers the runners write into the log.
func steps(j *jobs.Job, log []byte) []stepRow {
	rows := make([]stepRow, len(j.Plan.Steps))
	for i, st := range j.Plan.Steps {
		rows[i] = stepRow{N: i + 1, Name: st.Name, Result: "not run"}
	}
	for _, ln := range strings.Split(string(log), "\n") {
		if m := stepStart.FindStringSubmatch(ln); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= len(rows) {
				rows[n-1].Result = "running"
			}
		} else if m := stepEnd.FindStringSubmatch(ln); m != nil {
			if n, _ := strconv.Atoi(m[1]); n >= 1 && n <= len(rows) {
				rows[n-1].Result, rows[n-1].Duration = m[2], m[3]
			}
		}
	}
	if j.State.Final() {
		for i := range rows {
			if rows[i].Result == "running" {
				rows[i].Result = string(j.State)
			}
		}
	}
	return rows
}

func renderLog(b []byte) string {
	var out strings.Builder
	var a ansi
	for _, ln := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		out.WriteString(a.Line(string(ln)))
		out.WriteByte('\n')
	}
	return out.String()
}

func (s *Server) jobPage(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	all, err := s.d.Log.All(r.Context(), j.ID)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if i := bytes.LastIndexByte(all, '\n'); i >= 0 {
		all = all[:i+1] // whole lines only; the stream sends the rest
	} else {
		all = nil
	}
	shown, cut := all, false
	if len(shown) > pageLogBytes {
		shown, cut = shown[len(shown)-pageLogBytes:], true
		if i := bytes.IndexByte(shown, '\n'); i >= 0 {
			shown = shown[i+1:]
		}
	}
	who := "GitHub"
	if j.Requester != "" {
		who = j.Requester
	}
	q := s.query(r)
	d := pageData{
		Job: j, Title: fmt.Sprintf("#%d %s %s", j.ID, j.What(), j.Target()), State: string(j.State), Who: who,
		Elapsed: j.Duration(time.Now()).Round(time.Second).String(), Steps: steps(j, all),
		Log: template.HTML(renderLog(shown)), Cut: cut, Offset: int64(len(all)), Query: q,
		RawURL: fmt.Sprintf("/jobs/%d/log?%s", j.ID, q), Live: !j.State.Final(), Reason: j.Reason,
	}
	if j.HasExit {
		d.ExitCode = strconv.Itoa(j.ExitCode)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := pageTmpl.Execute(w, d); err != nil {
		s.d.Logger.Error("render job page", "job", j.ID, "err", err)
	}
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
	sendState := func(j *jobs.Job) {
		b, _ := json.Marshal(map[string]any{
			"state": j.State, "step": j.Step, "steps": len(j.Plan.Steps), "reason": j.Reason,
			"exit": exitOf(j), "elapsed": j.Duration(time.Now()).Round(time.Second).String(),
		})
		if string(b) != last {
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
		fmt.Fprint(w, "event: log\n")
		for _, ln := range bytes.Split(bytes.TrimSuffix(chunk, []byte("\n")), []byte("\n")) {
			fmt.Fprintf(w, "data: %s\n", a.Line(string(ln)))
		}
		fmt.Fprint(w, "\n")
		fl.Flush()
		return ctx.Err()
	})
	if err == nil && ended {
		fmt.Fprint(w, "event: end\ndata: done\n\n")
		fl.Flush()
	}
}

func exitOf(j *jobs.Job) any {
	if j.HasExit {
		return j.ExitCode
	}
	return nil
}
