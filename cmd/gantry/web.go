package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gantry-ci/gantry/web"
)

// linkSecret is the key that signs job page links: GANTRY_LINK_SECRET, or
// one made once and kept in Redis, so every gantry process signs alike and
// links outlive restarts.
func (m *Main) linkSecret(ctx context.Context, p *parts) ([]byte, error) {
	if s := m.Getenv("GANTRY_LINK_SECRET"); s != "" {
		if len(s) < 16 {
			return nil, &settingError{"GANTRY_LINK_SECRET", "must be at least 16 characters"}
		}
		return []byte(s), nil
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	s, err := p.store.LinkSecret(ctx, hex.EncodeToString(b[:]))
	if err != nil {
		return nil, err
	}
	p.redactor.Add(s) // kept in Redis, so the redactor learns it only now
	return []byte(s), nil
}

// webServer listens on GANTRY_HTTP_ADDR (def by default) and builds the
// HTTP server and its links. The listener is returned for the caller to
// serve; in the console a busy port is a warning, not a stop.
func (m *Main) webServer(ctx context.Context, p *parts, def string, webhook http.Handler) (*web.Server, net.Listener, error) {
	addr := m.Getenv("GANTRY_HTTP_ADDR")
	if addr == "" {
		addr = def
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, &settingError{"GANTRY_HTTP_ADDR", fmt.Sprintf("cannot listen on %s: %v", addr, err)}
	}
	m.onClose(func() error { l.Close(); return nil })
	public := m.Getenv("GANTRY_PUBLIC_URL")
	if public == "" {
		public = "http://" + l.Addr().String()
	}
	secret, err := m.linkSecret(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	p.links = web.NewLinks(public, secret, 0, nil)
	p.metrics = web.NewMetrics(p.store)
	m.metrics.Store(p.metrics)
	srv := web.New(web.Deps{
		Store: p.store, Log: p.log, Links: p.links, Public: p.cfg.Web.Public, PublicChannels: p.cfg.Web.PublicChannels, Webhook: webhook,
		Metrics: p.metrics, Logger: m.logger, GitHubURL: githubWebURL(m.Getenv("GITHUB_API_URL")), Names: p.names,
		Artifacts: p.webArtifacts(),
	})
	m.logger.Info("HTTP server listening", "addr", l.Addr().String(), "public_url", public)
	return srv, l, nil
}

// githubWebURL is where people browse the GitHub that GITHUB_API_URL
// serves, for links to commits: an Enterprise server's API lives under
// /api/v3 of its address. "" (github.com) for GitHub's own API, and for
// an API address of another shape (a test's fake GitHub).
func githubWebURL(api string) string {
	u, err := url.Parse(api)
	if err != nil || u.Host == "" || u.Host == "api.github.com" {
		return ""
	}
	path := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(path, "/api/v3") {
		return ""
	}
	return u.Scheme + "://" + u.Host + strings.TrimSuffix(path, "/api/v3")
}
