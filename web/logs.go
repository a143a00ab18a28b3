package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// logRange is how much of a log one read from Redis takes, and how much a
// page shows at first and each "earlier lines" adds: what one reader
// holds at a time, whatever the size of the log.
const logRange = 256 << 10

// extendWrite gives a streaming response another WriteTimeout for its next
// write, so the server's write timeout ends a reader that stopped reading,
// never one that keeps up.
func (s *Server) extendWrite(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.d.Limits.WriteTimeout))
}

// rawLog serves a job's whole log as text, read from Redis a range at a
// time.
func (s *Server) rawLog(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	ctx := r.Context()
	size, err := s.d.Log.Size(ctx, j.ID)
	if err != nil {
		s.d.Logger.Error("size of log for raw log", "job", j.ID, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gantry-job-%d.log"`, j.ID))
	}
	for off := int64(0); off < size; {
		b, err := s.d.Log.ReadAt(ctx, j.ID, off, min(logRange, size-off))
		if err != nil || len(b) == 0 {
			if ctx.Err() == nil {
				s.d.Logger.Warn("raw log cut short", "job", j.ID, "at", off, "size", size, "err", err)
			}
			return // the short body tells the client
		}
		s.extendWrite(w)
		if _, err := w.Write(b); err != nil {
			return
		}
		off += int64(len(b))
	}
}

// maxPageLines bounds the lines a page shows at first and each "earlier
// lines" adds, beside logRange: each line costs its markup, so a log of
// short lines would otherwise make pages many times the size of the text.
const maxPageLines = 4000

// earlierLines answers the page's "earlier lines": the whole lines of up
// to logRange bytes that end at offset before, drawn as the page draws
// them (sections and numbered lines), with X-Log-From saying where they
// start.
func (s *Server) earlierLines(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	before, err := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	if err != nil || before < 0 {
		http.Error(w, "before must be a byte offset in the log", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	html, from, err := s.drawBefore(ctx, j, before)
	if err != nil {
		s.d.Logger.Error("read earlier log lines", "job", j.ID, "before", before, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Log-From", strconv.FormatInt(from, 10))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(html))
}

// drawBefore draws the lines before offset before, and says where they
// start.
func (s *Server) drawBefore(ctx context.Context, j *jobs.Job, before int64) (string, int64, error) {
	v, err := s.view(ctx, j)
	if err != nil {
		return "", 0, err
	}
	before = min(before, v.size)
	b, from, err := s.readBefore(ctx, j.ID, before)
	if err != nil {
		return "", 0, err
	}
	first, err := v.lineAt(ctx, s.d.Log, j.ID, from)
	if err != nil {
		return "", 0, err
	}
	return v.render(b, from, first), from, nil
}

// readBefore reads the whole lines in the logRange bytes before offset
// before (a line cut by the start of the range is left for the next
// "earlier"), at most maxPageLines of them, and returns them with the
// offset they start at.
func (s *Server) readBefore(ctx context.Context, id, before int64) ([]byte, int64, error) {
	from := max(before-logRange, 0)
	b, err := s.d.Log.ReadAt(ctx, id, from, before-from)
	if err != nil {
		return nil, 0, err
	}
	b, from = wholeLinesFrom(b, from)
	b, from = lastLines(b, from, maxPageLines)
	return b, from, nil
}

// readTail reads the end of job j's log, up to offset size, for its page:
// the whole lines of its last logRange bytes (at most maxPageLines), the
// offset they start at, and the offset the live stream goes on from. A
// running job's unfinished last line is left to the stream.
func (s *Server) readTail(ctx context.Context, j *jobs.Job, size int64) (b []byte, from, to int64, err error) {
	from = max(size-logRange, 0)
	b, err = s.d.Log.ReadAt(ctx, j.ID, from, size-from)
	if err != nil {
		return nil, 0, 0, err
	}
	b, from = wholeLinesFrom(b, from)
	if !j.State.Final() {
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			b = b[:i+1]
		} else {
			b = nil
		}
	}
	b, from = lastLines(b, from, maxPageLines)
	return b, from, from + int64(len(b)), nil
}

// lastLines keeps the last n lines of b, read from offset off, and
// returns them with the offset they start at.
func lastLines(b []byte, off int64, n int) ([]byte, int64) {
	i := len(b)
	if i > 0 && b[i-1] == '\n' {
		i--
	}
	for range n {
		j := bytes.LastIndexByte(b[:i], '\n')
		if j < 0 {
			return b, off
		}
		i = j
	}
	return b[i+1:], off + int64(i+1)
}

// wholeLinesFrom drops the start of b, read from offset off, up to its
// first line break, unless b is at the log's start or is one line cut at
// both ends (then it is all there is to show).
func wholeLinesFrom(b []byte, off int64) ([]byte, int64) {
	if off == 0 {
		return b, 0
	}
	i := bytes.IndexByte(b, '\n')
	if i < 0 || i == len(b)-1 {
		return b, off
	}
	return b[i+1:], off + int64(i+1)
}
