package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Previews are served at /preview/N/: a reverse proxy to the app the
// preview's record names (a local process's port, an ECS task's private
// address), with /preview/N taken off the path. Unless web.public, the
// first request carries a signed link (Links.Preview); the server then
// sets a cookie for /preview/N/ so that the app's own links and its
// websockets work without one. Bodies stream both ways (FlushInterval -1)
// and upgrades (websockets) pass through.

func (l *Links) signPreview(id, exp int64) string {
	m := hmac.New(sha256.New, l.secret)
	fmt.Fprintf(m, "preview:%d:exp:%d", id, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// Preview is the signed link to job id's preview.
func (l *Links) Preview(id int64) string {
	exp := l.now().Add(l.ttl).Unix()
	return fmt.Sprintf("%s/preview/%d/?exp=%d&sig=%s", l.base, id, exp, l.signPreview(id, exp))
}

// PreviewURL is the unsigned address of job id's preview (web.public).
func (l *Links) PreviewURL(id int64) string { return fmt.Sprintf("%s/preview/%d/", l.base, id) }

// CheckPreview verifies the exp and sig of q for job id's preview.
func (l *Links) CheckPreview(id int64, q url.Values) (int64, error) {
	return l.check(q, func(exp int64) string { return l.signPreview(id, exp) })
}

const previewCookie = "gantry_preview"

func (s *Server) preview(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.Error(w, "not a job number: "+r.PathValue("id"), http.StatusNotFound)
		return
	}
	prefix := "/preview/" + strconv.FormatInt(id, 10)
	q := r.URL.Query()
	if !s.d.Public || s.privatePreview(r, id) {
		if q.Get("sig") != "" {
			exp, err := s.d.Links.CheckPreview(id, q)
			if err != nil {
				http.Error(w, err.Error()+": ask gantry for a fresh link", http.StatusForbidden)
				return
			}
			http.SetCookie(w, &http.Cookie{Name: previewCookie, Value: strconv.FormatInt(exp, 10) + "." + q.Get("sig"),
				Path: prefix + "/", Expires: time.Unix(exp, 0), HttpOnly: true, SameSite: http.SameSiteLaxMode})
			q.Del("exp")
			q.Del("sig")
		} else if !s.previewCookieOK(r, id) {
			http.Error(w, ErrUnsigned.Error()+": ask gantry for a fresh link", http.StatusForbidden)
			return
		}
	}
	p, ok, err := s.d.Store.Previews().Get(r.Context(), id)
	if err != nil {
		s.d.Logger.Error("read preview", "job", id, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if !ok {
		http.Error(w, fmt.Sprintf("job #%d has no running preview", id), http.StatusNotFound)
		return
	}
	// A preview may stream and hold websockets for long: no write deadline.
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{})
	_ = rc.SetReadDeadline(time.Time{})
	target := &url.URL{Scheme: "http", Host: p.Addr}
	rawQuery := q.Encode()
	proxy := &httputil.ReverseProxy{
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			path := strings.TrimPrefix(pr.In.URL.Path, prefix)
			if path == "" {
				path = "/"
			}
			pr.Out.URL.Path, pr.Out.URL.RawPath = path, ""
			pr.Out.URL.RawQuery = rawQuery
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Prefix", prefix)
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			s.d.Logger.Info("preview unreachable", "job", id, "err", err)
			http.Error(w, fmt.Sprintf("the preview of job #%d does not answer", id), http.StatusBadGateway)
		},
	}
	proxy.ServeHTTP(w, r)
}

// previewCookieOK checks the cookie a signed preview link left.
func (s *Server) previewCookieOK(r *http.Request, id int64) bool {
	c, err := r.Cookie(previewCookie)
	if err != nil {
		return false
	}
	exp, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return false
	}
	_, err = s.d.Links.CheckPreview(id, url.Values{"exp": {exp}, "sig": {sig}})
	return err == nil
}

// privatePreview reports whether job id's preview needs a signed link
// although web.public is set: its job's channel is private and not named
// in public_channels (or the job cannot be read).
func (s *Server) privatePreview(r *http.Request, id int64) bool {
	j, err := s.d.Store.Get(r.Context(), id)
	if err != nil {
		return true
	}
	return j.Private && !slices.Contains(s.d.PublicChannels, j.Channel)
}
