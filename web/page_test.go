package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
	"github.com/gantry-ci/gantry/web"
)

// ranFor moves job id through running to succeeded, d apart, as the
// worker would, with the record's millisecond times.
func (f *fixture) ranFor(t *testing.T, id int64, started time.Time, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	if _, err := f.store.Transition(ctx, id, jobs.Change{To: jobs.Running, Set: jobs.Set().Started(started)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Transition(ctx, id, jobs.Change{To: jobs.Succeeded, Set: jobs.Set().Finished(started.Add(d))}); err != nil {
		t.Fatal(err)
	}
}

func TestA40msJobShowsMilliseconds(t *testing.T) {
	f := newFixture(t, true)
	j := f.job(t, "quick")
	f.ranFor(t, j.ID, j.Created.Add(1500*time.Millisecond), 40*time.Millisecond)
	_, page := get(t, f.srv.URL+"/jobs/1")
	for _, want := range []string{`<span id="elapsed">40ms</span>`, `<span id="ran">ran 40ms</span>`, "after 1.5s in the queue"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(page, ">0s<") {
		t.Error("the page rounds the job's 40ms to 0s")
	}
	_, list := get(t, f.srv.URL+"/jobs")
	if !strings.Contains(list, "<td>40ms</td>") {
		t.Errorf("the list does not say the job took 40ms:\n%s", list)
	}
}

func TestPageShowsTheJobsFacts(t *testing.T) {
	f := newFixture(t, true, func(d *web.Deps) { d.GitHubURL = "https://ghe.example.com/" })
	ctx := context.Background()
	created := time.Date(2026, 3, 4, 5, 6, 7, 890e6, time.UTC)
	j := &jobs.Job{Kind: jobs.Build, Repo: "api", Ref: "feature-x", SHA: "0123456789abcdef0123456789abcdef01234567",
		Message: "Fix <script>alert(1)</script> & retry", GitHub: "acme/api", PR: 42, Requester: "U2", Requesters: []string{"U1", "U2"}, Created: created}
	if err := f.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	f.ranFor(t, j.ID, created.Add(250*time.Millisecond), 83*time.Second+400*time.Millisecond)
	_, page := get(t, f.srv.URL+"/jobs/1")
	for _, want := range []string{
		`<dd id="repo">api</dd>`,
		`<dd id="ref">feature-x (<a href="https://ghe.example.com/acme/api/pull/42">pull request #42</a>)</dd>`,
		`<a id="sha" href="https://ghe.example.com/acme/api/commit/0123456789abcdef0123456789abcdef01234567"`,
		"<code>0123456</code>",
		`<span id="message">Fix &lt;script&gt;alert(1)&lt;/script&gt; &amp; retry</span>`,
		"by U1, retried by U2",
		`<time id="queued">2026-03-04 05:06:07.890 UTC</time>`,
		`<time id="started">2026-03-04 05:06:08.140 UTC</time>`,
		"after 250ms in the queue",
		`<time id="finished">2026-03-04 05:07:31.540 UTC</time>`,
		"ran 1m23s",
		`<a href="/jobs">all jobs</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	// Without its GitHub repository, the SHA is shown but not linked.
	plain := f.job(t, "x")
	_, page = get(t, fmt.Sprintf("%s/jobs/%d", f.srv.URL, plain.ID))
	if !strings.Contains(page, `<code id="sha" title="0123456789abcdef0123456789abcdef01234567">0123456</code>`) || strings.Contains(page, "/commit/") {
		t.Error("a job without a GitHub repository links its SHA, or does not show it")
	}
}

// stepLog is the log of a two-step job whose second step failed.
var stepLog = []string{
	"checking out hello@main",                   // L1
	"── step 1/2: make build",                   // L2
	"compiling",                                 // L3
	"── step 1/2 succeeded in 1.5s: make build", // L4
	"── step 2/2: make test",                    // L5
	"FAIL TestSomething",                        // L6
	"── step 2/2 failed with exit code 1 in 250ms: make test", // L7
	"releasing mysql-2", // L8
}

// stepJob is a job of two steps that ran as stepLog says: it failed.
func (f *fixture) stepJob(t *testing.T) *jobs.Job {
	t.Helper()
	ctx := context.Background()
	j := &jobs.Job{Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567", Requester: "U1",
		Plan: spec.Plan{Steps: []spec.Step{{Name: "make build", Run: "make build"}, {Name: "make test", Run: "make test"}}}}
	if err := f.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	w := f.log.Writer(ctx, j.ID)
	for _, ln := range stepLog {
		w.Line(ln)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{To: jobs.Failed}); err != nil {
		t.Fatal(err)
	}
	return j
}

func TestStepsAreSectionsOfNumberedLines(t *testing.T) {
	f := newFixture(t, true)
	f.stepJob(t)
	at := logClock.Format("15:04:05") // each line shows when it was taken
	_, page := get(t, f.srv.URL+"/jobs/1")
	sections := regexp.MustCompile(`<(details|div) class="seg ([a-z ]+)" data-seg="([-a-z0-9]+)"([^>]*)>`).FindAllStringSubmatch(page, -1)
	var got []string
	for _, m := range sections {
		got = append(got, m[3]+":"+m[2]+m[4])
	}
	want := []string{"o-1:out", "s0:step succeeded data-ended=\"1\"", "s1:step failed data-ended=\"1\" open", "o1:out"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("sections:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, want := range []string{
		`<span class="sh">step 1/2</span> <code>make build</code> <span class="res">succeeded</span> <span class="took">1.5s</span>`,
		`<span class="sh">step 2/2</span> <code>make test</code> <span class="res">failed with exit code 1</span> <span class="took">250ms</span>`,
		`<div class="l" id="L6"><a href="#L6" data-n="6" data-t="` + at + `"></a>FAIL TestSomething</div>`,
		`<div class="l" id="L8"><a href="#L8" data-n="8" data-t="` + at + `"></a>releasing mysql-2</div>`,
		"<td>2</td><td><code>make test</code></td><td>failed with exit code 1</td><td>250ms</td>", // the steps table
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if n := len(logLines(page)); n != len(stepLog) {
		t.Errorf("the page numbers %d lines, want %d", n, len(stepLog))
	}
}

// A log longer than a page is cut inside a step: the page starts with
// that step's section, the earlier lines end with it, and the numbers run
// on across the cut.
func TestLineNumbersAndSectionsCarryAcrossEarlierLines(t *testing.T) {
	f := newFixture(t, true)
	lines := []string{"before the steps", "── step 1/1: make test"}
	for i := range 9000 {
		lines = append(lines, fmt.Sprintf("row %05d %s", i, strings.Repeat("~", 60)))
	}
	lines = append(lines, "── step 1/1 succeeded in 2m3s: make test", "after the steps")
	f.job(t, lines...)
	_, page := get(t, f.srv.URL+"/jobs/1")
	first := regexp.MustCompile(`<div id="log"[^>]*>\s*<details class="seg step succeeded" data-seg="s0"`)
	if !first.MatchString(page) {
		t.Fatalf("the page does not start inside step 1's section:\n%.600s", page[strings.Index(page, `<div id="log"`):])
	}
	numbers := lineNumbers(page)
	last := numbers[len(numbers)-1]
	if last != len(lines) || numbers[0] != last-len(numbers)+1 {
		t.Fatalf("the page numbers lines %d to %d, want up to %d without gaps", numbers[0], last, len(lines))
	}
	before := regexp.MustCompile(`data-before="(\d+)"`).FindStringSubmatch(page)[1]
	top := numbers[0]
	for rounds := 0; before != "0"; rounds++ {
		if rounds > 10 {
			t.Fatal("earlier lines never reached the log's start")
		}
		resp, err := http.Get(f.srv.URL + "/jobs/1/lines?before=" + before)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		chunk := string(b)
		ns := lineNumbers(chunk)
		if len(ns) == 0 || ns[len(ns)-1] != top-1 || ns[0] != top-len(ns) {
			t.Fatalf("earlier than line %d: lines %v…", top, ns[:min(3, len(ns))])
		}
		if !strings.HasSuffix(strings.TrimSpace(chunk), "</div></details>") || !strings.Contains(chunk, `data-seg="s0"`) {
			t.Fatalf("earlier than line %d: the chunk does not end in step 1's section: …%s", top, chunk[max(0, len(chunk)-200):])
		}
		top, before = ns[0], resp.Header.Get("X-Log-From")
	}
	if top != 1 {
		t.Errorf("the log's start is line %d, want 1", top)
	}
}

func lineNumbers(page string) []int {
	var ns []int
	for _, m := range drawnLine.FindAllStringSubmatch(page, -1) {
		n, _ := strconv.Atoi(m[1])
		ns = append(ns, n)
	}
	return ns
}
