package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/reports"
)

// Artifacts is where the server finds jobs' artifacts. Zero values serve
// none.
type Artifacts struct {
	// Dir holds the artifacts the local runner kept (Results.Store "dir").
	Dir *artifacts.Dir
	// Presign links to an artifact kept in S3 (Results.Store
	// "s3://…"), for a short while: the page's link redirects to it.
	Presign func(ctx context.Context, store string, job int64, name string) (string, error)
}

// resultsView is what the page shows of a job's results.
type resultsView struct {
	Tests *reports.Summary
	Files []artifactRow
	Notes []string
}

type artifactRow struct {
	Path, Size, URL string
}

// ArtifactPath is the path of artifact name of job id under the server,
// without the signed query.
func ArtifactPath(id int64, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("/jobs/%d/artifacts/%s", id, strings.Join(parts, "/"))
}

// Artifact is the signed link to artifact name of job id: it carries the
// job page's signature, so it holds exactly as long as that does.
func (l *Links) Artifact(id int64, name string) string {
	return l.base + ArtifactPath(id, name) + "?" + l.Query(id)
}

func (s *Server) results(j *jobs.Job, q string) *resultsView {
	r := j.Results
	if r == nil {
		return nil
	}
	v := &resultsView{Tests: r.Tests, Notes: r.Notes}
	for _, f := range r.Files {
		u := ArtifactPath(j.ID, f.Path)
		if q != "" {
			u += "?" + q
		}
		v.Files = append(v.Files, artifactRow{Path: f.Path, Size: artifacts.Bytes(f.Size), URL: u})
	}
	return v
}

// artifact serves one artifact of a job, behind the job page's link
// rules: from gantry's directory, or by a redirect to a presigned S3 link.
// Only files the job's record lists are served.
func (s *Server) artifact(w http.ResponseWriter, r *http.Request) {
	j := s.job(w, r)
	if j == nil {
		return
	}
	name := r.PathValue("path")
	if j.Results == nil || !slices.ContainsFunc(j.Results.Files, func(f artifacts.File) bool { return f.Path == name }) {
		http.Error(w, fmt.Sprintf("job #%d kept no artifact %q", j.ID, name), http.StatusNotFound)
		return
	}
	store := j.Results.Store
	switch {
	case store == artifacts.StoreDir && s.d.Artifacts.Dir != nil:
		f, err := s.d.Artifacts.Dir.Open(j.ID, name)
		if errors.Is(err, os.ErrNotExist) {
			http.Error(w, fmt.Sprintf("artifact %q of job #%d is gone", name, j.ID), http.StatusNotFound)
			return
		}
		if err != nil {
			s.d.Logger.Error("open artifact", "job", j.ID, "path", name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		defer f.Close()
		artifactHeaders(w, name)
		s.extendWrite(w)
		_, _ = io.Copy(w, f)
	case strings.HasPrefix(store, "s3://") && s.d.Artifacts.Presign != nil:
		u, err := s.d.Artifacts.Presign(r.Context(), store, j.ID, name)
		if err != nil {
			s.d.Logger.Error("presign artifact", "job", j.ID, "path", name, "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Referrer-Policy", "no-referrer")
		http.Redirect(w, r, u, http.StatusFound)
	default:
		http.Error(w, fmt.Sprintf("artifacts of job #%d are kept where this server cannot reach (%s)", j.ID, store), http.StatusNotFound)
	}
}

// artifactHeaders make a browser show text as text and download anything
// else; nothing a build wrote is ever run as a page of this site.
func artifactHeaders(w http.ResponseWriter, name string) {
	h := w.Header()
	ct := "application/octet-stream"
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".log", ".xml", ".json", ".out", ".csv", ".md":
		ct = "text/plain; charset=utf-8"
	}
	h.Set("Content-Type", ct)
	if ct == "application/octet-stream" {
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": path.Base(name)}))
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}
