package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
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
	public, err := m.publicURL(l.Addr(), def == consoleHTTPAddr)
	if err != nil {
		return nil, nil, err
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

// workerProbes is a worker's HTTP server when GANTRY_HTTP_ADDR is set:
// /healthz, /readyz and /metrics (the jobs it ran, their durations, its
// dropped log bytes), which a worker apart from the bot has nowhere else.
// Unset, a worker listens on nothing.
func (m *Main) workerProbes(p *parts) (*web.Server, net.Listener, error) {
	addr := m.Getenv("GANTRY_HTTP_ADDR")
	if addr == "" {
		return nil, nil, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, &settingError{"GANTRY_HTTP_ADDR", fmt.Sprintf("cannot listen on %s: %v", addr, err)}
	}
	m.onClose(func() error { l.Close(); return nil })
	p.metrics = web.NewMetrics(p.store)
	m.metrics.Store(p.metrics)
	m.logger.Info("worker probes listening", "addr", l.Addr().String())
	return web.New(web.Deps{Store: p.store, Metrics: p.metrics, Logger: m.logger, ProbesOnly: true}), l, nil
}

// consoleHTTPAddr is where the console listens unless GANTRY_HTTP_ADDR says.
const consoleHTTPAddr = "127.0.0.1:8080"

// publicURL is the base of the links to job pages: GANTRY_PUBLIC_URL, which
// must be an http(s) URL with a host and nothing after its path. Unset, it
// is derived only where the derivation is sure to work: from a loopback
// listener, whose links open on this machine, and in the console, which
// serves the person at this machine. serve and bot listening on every
// interface cannot know the name people reach them by, so they refuse to
// start rather than post links to http://[::]:8080.
func (m *Main) publicURL(addr net.Addr, console bool) (string, error) {
	if public := m.Getenv("GANTRY_PUBLIC_URL"); public != "" {
		u, err := url.Parse(public)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			return "", &settingError{"GANTRY_PUBLIC_URL", fmt.Sprintf("%q is not an http(s) URL such as https://gantry.example.com", public)}
		case u.User != nil || u.RawQuery != "" || u.Fragment != "":
			return "", &settingError{"GANTRY_PUBLIC_URL", fmt.Sprintf("%q has a user, query or fragment; give the bare base URL, such as https://gantry.example.com", public)}
		}
		return strings.TrimSuffix(public, "/"), nil
	}
	tcp, ok := addr.(*net.TCPAddr)
	switch {
	case ok && tcp.IP.IsLoopback():
		return "http://" + tcp.String(), nil
	case ok && console:
		return "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port)), nil
	}
	return "", &settingError{"GANTRY_PUBLIC_URL", fmt.Sprintf("is not set: gantry listens on %s and cannot tell the address people open job pages at; set it to that URL, such as https://gantry.example.com (the links in Slack use it)", addr)}
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
