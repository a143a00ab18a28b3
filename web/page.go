package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

type pageData struct {
	Job      *jobs.Job
	Title    string
	State    string
	Who      string
	Elapsed  string
	Steps    []stepRow
	Log      template.HTML
	From     int64 // where the lines shown start; earlier ones load on demand
	Offset   int64 // where the live stream goes on
	Query    string
	RawURL   string
	Live     bool
	Reason   string
	ExitCode string
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
	ctx := r.Context()
	shown, from, to, err := s.readTail(ctx, j)
	if err != nil {
		s.d.Logger.Error("read log for page", "job", j.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	rows, err := s.stepRows(ctx, j)
	if err != nil {
		s.d.Logger.Error("read step markers for page", "job", j.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	who := "GitHub"
	if j.Requester != "" {
		who = j.Requester
	}
	q := s.query(r)
	d := pageData{
		Job: j, Title: fmt.Sprintf("#%d %s %s", j.ID, j.What(), j.Target()), State: string(j.State), Who: who,
		Elapsed: j.Duration(time.Now()).Round(time.Second).String(), Steps: rows,
		Log: template.HTML(renderLog(shown)), From: from, Offset: to, Query: q,
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
	// The stream outlives the server's write timeout: each write gets a
	// fresh one, so only a reader that stopped reading is cut off.
	s.extendWrite(w)
	sendState := func(j *jobs.Job) {
		b, _ := json.Marshal(map[string]any{
			"state": j.State, "step": j.Step, "steps": len(j.Plan.Steps), "reason": j.Reason,
			"exit": exitOf(j), "elapsed": j.Duration(time.Now()).Round(time.Second).String(),
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

func exitOf(j *jobs.Job) any {
	if j.HasExit {
		return j.ExitCode
	}
	return nil
}
