package web_test

import (
	"bufio"
	"context"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
	"github.com/gantry-ci/gantry/web"
)

type fixture struct {
	redis *redis.Client // the fixture's Redis, for tests that read or write it directly
	store *jobs.Store
	log   *jobs.Log
	links *web.Links
	now   time.Time
	srv   *httptest.Server
	made  []*jobs.Job // the jobs make made
}

// newFixture serves job pages from a fresh Redis; opts change the
// server's Deps before it is made.
func newFixture(t *testing.T, public bool, opts ...func(*web.Deps)) *fixture {
	t.Helper()
	f := &fixture{now: time.Now()}
	f.redis = redistest.Client(t)
	f.store = jobs.NewStore(rdb.New(f.redis), jobs.StoreConfig{})
	// Output is dated by a stopped clock, so that pages show known times.
	f.log = jobs.NewLog(f.store, jobs.LogConfig{FlushEvery: 10 * time.Millisecond, Now: func() time.Time { return logClock }}, nil)
	f.links = web.NewLinks("http://gantry.test", []byte("0123456789abcdef0123"), time.Hour, func() time.Time { return f.now })
	d := web.Deps{Store: f.store, Log: f.log, Links: f.links, Public: public, Metrics: web.NewMetrics(f.store), Poll: 20 * time.Millisecond}
	for _, o := range opts {
		o(&d)
	}
	s := web.New(d)
	f.srv = httptest.NewServer(s.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) job(t *testing.T, lines ...string) *jobs.Job {
	t.Helper()
	j := &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567",
		Requester: "U1", Plan: spec.Plan{Steps: []spec.Step{{Name: "make test", Run: "make test"}}}}
	ctx := context.Background()
	if err := f.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	w := f.log.Writer(ctx, j.ID)
	for _, ln := range lines {
		w.Line(ln)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return j
}

// path is the local path of a signed link.
func (f *fixture) path(link string) string {
	u, _ := url.Parse(link)
	return f.srv.URL + u.Path + "?" + u.RawQuery
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestSignedLinksAreCheckedForJobExpiryAndTampering(t *testing.T) {
	f := newFixture(t, false)
	j1 := f.job(t, "one")
	j2 := f.job(t, "two")
	good := f.path(f.links.Job(j1.ID))
	if code, body := get(t, good); code != 200 || !strings.Contains(body, "#1 build hello@main") {
		t.Fatalf("good link: %d\n%s", code, body)
	}
	// One job's signature on another job.
	other := strings.Replace(good, "/jobs/1?", "/jobs/2?", 1)
	if code, body := get(t, other); code != 403 || !strings.Contains(body, "signature does not match") {
		t.Errorf("moved link: %d %s", code, body)
	}
	// An altered expiry.
	u, _ := url.Parse(good)
	q := u.Query()
	q.Set("exp", "99999999999")
	u.RawQuery = q.Encode()
	if code, _ := get(t, u.String()); code != 403 {
		t.Errorf("altered expiry: %d", code)
	}
	// No signature at all.
	if code, body := get(t, f.srv.URL+"/jobs/2"); code != 403 || !strings.Contains(body, "not signed") {
		t.Errorf("unsigned: %d %s", code, body)
	}
	// Expired.
	link := f.links.Job(j2.ID)
	f.now = f.now.Add(2 * time.Hour)
	if code, body := get(t, f.path(link)); code != 403 || !strings.Contains(body, "expired") {
		t.Errorf("expired: %d %s", code, body)
	}
}

func TestPublicPagesNeedNoSignature(t *testing.T) {
	f := newFixture(t, true)
	f.job(t, "hello")
	if code, body := get(t, f.srv.URL+"/jobs/1"); code != 200 || !strings.Contains(body, "hello") {
		t.Fatalf("%d %s", code, body)
	}
	if code, _ := get(t, f.srv.URL+"/jobs/9"); code != 404 {
		t.Errorf("missing job: %d", code)
	}
}

func TestPageRendersColoursAndEscapesText(t *testing.T) {
	f := newFixture(t, false)
	j := f.job(t, "\x1b[31;1mFAIL\x1b[0m <script>alert(1)</script>", "\x1b[32mok\x1b[39m plain", "\x1b[2Kcleared",
		"10%\r50%\r100% done\r")
	_, body := get(t, f.path(f.links.Job(j.ID)))
	for _, want := range []string{
		`<span class="fg-red bold">FAIL</span> &lt;script&gt;alert(1)&lt;/script&gt;`,
		`<span class="fg-green">ok</span> plain`,
		`"></a>cleared</div>`,
		`"></a>100% done</div>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("log text reached the page unescaped")
	}
}

func TestRawLogAndDownload(t *testing.T) {
	f := newFixture(t, false)
	j := f.job(t, "a", "b")
	link := f.path(f.links.Job(j.ID))
	raw := strings.Replace(link, "/jobs/1?", "/jobs/1/log?", 1)
	resp, err := http.Get(raw + "&download=1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "a\nb\n" || !strings.Contains(resp.Header.Get("Content-Disposition"), "gantry-job-1.log") {
		t.Errorf("raw log %q, disposition %q", b, resp.Header.Get("Content-Disposition"))
	}
}

func TestEventsStreamNewLinesAndTheEnd(t *testing.T) {
	f := newFixture(t, false)
	j := f.job(t, "before")
	ctx := context.Background()
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Running}); err != nil {
		t.Fatal(err)
	}
	link := f.path(f.links.Job(j.ID))
	events := strings.Replace(link, "/jobs/1?", "/jobs/1/events?", 1) + "&from=7"
	resp, err := http.Get(events)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			got <- sc.Text()
		}
		close(got)
	}()
	w := f.log.Writer(ctx, j.ID)
	w.Line("\x1b[33mlive line\x1b[0m")
	w.Close()
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	var all []string
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case ln, ok := <-got:
			if !ok {
				done = true
				break
			}
			all = append(all, ln)
		case <-timeout:
			t.Fatalf("stream did not end; got %q", all)
		}
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"event: state\ndata: {",
		`"state":"running"`,
		"event: log\ndata: <span class=\"fg-yellow\">live line</span>",
		`"state":"succeeded"`,
		"event: end",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("stream lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "data: before") {
		t.Error("the stream repeated lines the page already had")
	}
}

func TestHealthReadyAndMetrics(t *testing.T) {
	f := newFixture(t, false)
	f.job(t)
	if code, body := get(t, f.srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("healthz %d %q", code, body)
	}
	if code, _ := get(t, f.srv.URL+"/readyz"); code != 200 {
		t.Errorf("readyz %d", code)
	}
	_, body := get(t, f.srv.URL+"/metrics")
	for _, want := range []string{`gantry_jobs{state="queued"} 1`, `gantry_queue_depth{kind="waiting"} 1`, "# TYPE gantry_dead_lettered_total counter\ngantry_dead_lettered_total 0"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestEarlierLinesLoadTheWholeLogInRanges(t *testing.T) {
	f := newFixture(t, false)
	var lines []string
	for i := range 12000 {
		lines = append(lines, fmt.Sprintf("line %05d %s", i, strings.Repeat("=", 60)))
	}
	j := f.job(t, lines...)
	link := f.path(f.links.Job(j.ID))
	_, page := get(t, link)
	m := regexp.MustCompile(`data-before="(\d+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("a page with %d lines has no earlier lines link", len(lines))
	}
	shown := logLines(page)
	seen := len(shown)
	if len(shown) == 0 || shown[len(shown)-1] != lines[len(lines)-1] || strings.Contains(page, "line 00000 ") {
		t.Fatal("the page does not show the end of the log only")
	}
	before := m[1]
	for rounds := 0; before != "0"; rounds++ {
		if rounds > 10 {
			t.Fatal("earlier lines never reached the log's start")
		}
		resp, err := http.Get(strings.Replace(link, "/jobs/1?", "/jobs/1/lines?", 1) + "&before=" + before)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		from := resp.Header.Get("X-Log-From")
		if resp.StatusCode != http.StatusOK || !earlier(from, before) {
			t.Fatalf("earlier than %s: %d, from %q", before, resp.StatusCode, from)
		}
		got := logLines(string(b))
		for _, ln := range got {
			if !wholeLine.MatchString(ln) {
				t.Fatalf("earlier than %s: not whole lines: %q", before, ln)
			}
		}
		seen += len(got)
		before = from
	}
	if seen != len(lines) {
		t.Errorf("the page and its earlier ranges showed %d lines, want each of the %d once", seen, len(lines))
	}
	if code, _ := get(t, strings.Replace(link, "/jobs/1?", "/jobs/1/lines?", 1)+"&before=x"); code != http.StatusBadRequest {
		t.Errorf("a bad offset answered %d", code)
	}
	if code, _ := get(t, f.srv.URL+"/jobs/1/lines?before=10"); code != http.StatusForbidden {
		t.Errorf("an unsigned request for earlier lines answered %d", code)
	}
}

// logClock is when the fixtures' output is taken.
var logClock = time.Date(2026, 3, 4, 5, 6, 9, 0, time.UTC)

var (
	// drawnLine is a line of the log as a page draws it: its number, and
	// its text.
	drawnLine = regexp.MustCompile(`<div class="l" id="L(\d+)"><a href="#L\d+" data-n="\d+"(?: data-t="\d\d:\d\d:\d\d")?></a>(.*)</div>`)
	wholeLine = regexp.MustCompile(`^line \d{5} =+$`)
)

// logLines are the texts of the log lines drawn in page, in order.
func logLines(page string) []string {
	var out []string
	for _, m := range drawnLine.FindAllStringSubmatch(page, -1) {
		out = append(out, m[2])
	}
	return out
}

// earlier reports whether offset a is before offset b.
func earlier(a, b string) bool {
	x, err1 := strconv.ParseInt(a, 10, 64)
	y, err2 := strconv.ParseInt(b, 10, 64)
	return err1 == nil && err2 == nil && x < y
}
