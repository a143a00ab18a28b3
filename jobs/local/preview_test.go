package local_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
	"github.com/gantry-ci/gantry/web"
)

// previewApp is the app a preview keeps running: this test binary,
// serving on $PORT what it was asked for and a websocket echo at /ws.
func previewApp() int {
	up := websocket.Upgrader{}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			_ = c.WriteMessage(mt, append([]byte("echo: "), b...))
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s %s from job %s", r.URL.Path, r.URL.RawQuery, os.Getenv("GANTRY_JOB"))
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// previewJob is a build whose plan keeps this test binary running as its
// app.
func previewJob(t *testing.T) *jobs.Job {
	p := plan("true")
	p.Env["GANTRY_PREVIEW_TEST_APP"] = "1"
	p.Preview = &spec.Preview{Run: os.Args[0] + " -test.run=^$", Port: 8080, TTL: time.Hour}
	return &jobs.Job{Kind: jobs.Build, Repo: "app", Ref: "main", Requester: "U0ME", Channel: "C1", Source: jobs.SourceDir, Path: t.TempDir(), PR: 12, Plan: p}
}

type previewFixture struct {
	*fixture
	r     *local.Runner
	web   *httptest.Server
	links *web.Links
	now   time.Time
}

func newPreviewFixture(t *testing.T, max int) *previewFixture {
	f := &previewFixture{fixture: newFixture(t), now: time.Now()}
	f.r = local.New(local.Config{Previews: &local.PreviewConfig{Max: max, Now: func() time.Time { return f.now }}})
	f.web = httptest.NewServer(web.New(web.Deps{Store: f.store, Log: f.log, Links: web.NewLinks("", []byte("k"), 0, nil)}).Handler())
	t.Cleanup(f.web.Close)
	f.links = web.NewLinks(f.web.URL, []byte("k"), 0, nil)
	t.Cleanup(func() { f.r.ClosePreviews(context.Background(), f.store.Previews()) })
	return f
}

func get(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitGone waits until nothing listens on addr.
func waitGone(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("the preview app still listens on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLocalPreviewServesHTTPAndWebsocketsThenExpires(t *testing.T) {
	f := newPreviewFixture(t, 5)
	j := previewJob(t)
	code, err, log := f.run(t, f.r, j)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	rec, ok, err := f.store.Previews().Get(context.Background(), j.ID)
	if !ok || err != nil || rec.Runner != "local" || rec.PR != 12 {
		t.Fatalf("record = %+v %v %v", rec, ok, err)
	}

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	if code, body := get(t, c, f.web.URL+"/preview/1/x"); code != http.StatusForbidden {
		t.Fatalf("unsigned: %d %s", code, body)
	}
	signed := f.links.Preview(j.ID)
	if code, body := get(t, c, strings.Replace(signed, "sig=", "sig=0", 1)); code != http.StatusForbidden {
		t.Fatalf("forged: %d %s", code, body)
	}
	if code, body := get(t, c, signed); code != 200 || body != "hello /  from job 1" {
		t.Fatalf("signed: %d %q", code, body)
	}
	// The cookie the signed link left opens the app's other pages.
	if code, body := get(t, c, f.web.URL+"/preview/1/a/b?q=1"); code != 200 || body != "hello /a/b q=1 from job 1" {
		t.Fatalf("with cookie: %d %q", code, body)
	}

	u := f.web.URL
	hdr := http.Header{}
	for _, ck := range jar.Cookies(mustURL(t, u+"/preview/1/")) {
		hdr.Add("Cookie", ck.String())
	}
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(u, "http")+"/preview/1/ws", hdr)
	if err != nil {
		t.Fatal("websocket through the proxy:", err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := ws.ReadMessage()
	if err != nil || string(msg) != "echo: ping" {
		t.Fatalf("websocket read %q %v", msg, err)
	}
	ws.Close()

	// The TTL: the sweep after it ends the app and the record.
	if exp, _ := f.store.Previews().Expired(context.Background(), f.now.Add(59*time.Minute)); len(exp) != 0 {
		t.Fatalf("expired early: %+v", exp)
	}
	f.now = f.now.Add(61 * time.Minute)
	if exp, _ := f.store.Previews().Expired(context.Background(), f.now); len(exp) != 1 {
		t.Fatalf("expired = %+v", exp)
	}
	if err := f.r.SweepPreviews(context.Background(), f.store.Previews()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, rec.Addr)
	if code, body := get(t, c, f.web.URL+"/preview/1/"); code != http.StatusNotFound {
		t.Fatalf("after the TTL: %d %q", code, body)
	}
}

func TestLocalPreviewCap(t *testing.T) {
	f := newPreviewFixture(t, 1)
	first, second := previewJob(t), previewJob(t)
	for _, j := range []*jobs.Job{first, second} {
		if code, err, log := f.run(t, f.r, j); err != nil || code != 0 {
			t.Fatalf("code %d, err %v\n%s", code, err, log)
		}
	}
	if _, ok, _ := f.store.Previews().Get(context.Background(), second.ID); ok {
		t.Fatal("a second preview runs past previews.max 1")
	}
	if _, ok, _ := f.store.Previews().Get(context.Background(), first.ID); !ok {
		t.Fatal("the first preview is not recorded")
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLocalPreviewStopsWhenItsPullRequestCloses(t *testing.T) {
	f := newPreviewFixture(t, 5)
	cfg, err := spec.ParseServer("gantry.yml", []byte("repos:\n  app: {github: acme/app}\n"))
	if err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: cfg, Store: f.store, Log: f.log, PreviewStopper: f.r,
		Logger: slog.New(slog.DiscardHandler)})
	other, j := previewJob(t), previewJob(t)
	other.PR = 13
	for _, j := range []*jobs.Job{other, j} {
		if code, err, log := f.run(t, f.r, j); err != nil || code != 0 {
			t.Fatalf("code %d, err %v\n%s", code, err, log)
		}
	}
	rec, _, _ := f.store.Previews().Get(context.Background(), j.ID)
	if code, body := get(t, http.DefaultClient, f.links.Preview(j.ID)); code != 200 {
		t.Fatalf("before the close: %d %q", code, body)
	}
	// preview #N for 2h gives a running preview more time.
	reply := svc.Handle(context.Background(), &commands.Request{User: "U0ME", Channel: "C1", Text: "preview #" + strconv.FormatInt(j.ID, 10) + " for 2h"})
	if !strings.Contains(reply.Text.Slack(), "runs until") {
		t.Fatalf("preview for 2h: %q", reply.Text.Slack())
	}
	if got, _, _ := f.store.Previews().Get(context.Background(), j.ID); !got.Expires.After(rec.Expires) {
		t.Fatalf("expiry %v, was %v", got.Expires, rec.Expires)
	}
	plain := &jobs.Job{Kind: jobs.Build, Repo: "app", Requester: "U0ME", Channel: "C1", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("true")}
	f.create(t, plain)
	reply = svc.Handle(context.Background(), &commands.Request{User: "U0ME", Channel: "C1", Text: "preview #" + strconv.FormatInt(plain.ID, 10)})
	if !strings.Contains(reply.Text.Slack(), "has no preview: its pipeline (branch) has no preview:") {
		t.Fatalf("preview of a build without preview: %q", reply.Text.Slack())
	}
	reply = svc.Handle(context.Background(), &commands.Request{User: "U0ME", Channel: "C1", Text: "envs"})
	if !strings.Contains(reply.Text.Slack(), "Previews") || !strings.Contains(reply.Text.Slack(), "/preview/"+strconv.FormatInt(j.ID, 10)+"/") {
		t.Fatalf("envs: %q", reply.Text.Slack())
	}

	err = svc.Webhooks(nil).Handle(context.Background(), &scm.WebhookEvent{Kind: "pull_request", Action: "closed", Repo: "acme/app", PR: 12})
	if err != nil {
		t.Fatal(err)
	}
	waitGone(t, rec.Addr)
	if code, body := get(t, http.DefaultClient, f.links.Preview(j.ID)); code != http.StatusNotFound {
		t.Fatalf("after the close: %d %q", code, body)
	}
	if code, body := get(t, http.DefaultClient, f.links.Preview(other.ID)); code != 200 {
		t.Fatalf("another pull request's preview after the close: %d %q", code, body)
	}

	// stop #N: who may.
	reply = svc.Handle(context.Background(), &commands.Request{User: "U0STRANGER", Channel: "C1", Text: "stop #" + strconv.FormatInt(other.ID, 10)})
	if !strings.Contains(reply.Text.Slack(), "may not stop") {
		t.Fatalf("a stranger's stop: %q", reply.Text.Slack())
	}
	reply = svc.Handle(context.Background(), &commands.Request{User: "U0ADMIN", Console: true, Channel: "console", Text: "stop #" + strconv.FormatInt(other.ID, 10)})
	if !strings.Contains(reply.Text.Slack(), "Stopped the preview") {
		t.Fatalf("the console's stop: %q", reply.Text.Slack())
	}
	if code, _ := get(t, http.DefaultClient, f.links.Preview(other.ID)); code != http.StatusNotFound {
		t.Fatalf("after stop: %d", code)
	}
}
