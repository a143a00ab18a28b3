package web_test

import (
	"context"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/web"
)

// listed is a job to create for a list test.
type listed struct {
	repo, env, who, channel string
	private                 bool
	state                   jobs.State
}

// make creates the jobs, one a second apart so the list's order is
// theirs, and moves each to its state.
func (f *fixture) make(t *testing.T, js ...listed) []*jobs.Job {
	t.Helper()
	ctx := context.Background()
	start := time.Now().Add(-time.Hour)
	var out []*jobs.Job
	for i, l := range js {
		j := &jobs.Job{Kind: jobs.Build, Repo: l.repo, Ref: "main", Requester: l.who, Channel: l.channel, Private: l.private,
			SHA: "89abcdef0123456789abcdef0123456789abcdef", Created: start.Add(time.Duration(len(f.made)+i) * time.Second)}
		if l.env != "" {
			j.Kind, j.Env = jobs.Deploy, l.env
		}
		if l.repo == "" {
			j.Repo = "hello"
		}
		if err := f.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		if l.state != "" && l.state != jobs.Queued {
			if _, err := f.store.Transition(ctx, j.ID, jobs.Change{To: l.state}); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, j)
	}
	f.made = append(f.made, out...)
	return out
}

// jobRow finds the job numbers of the rows of a list page, in order.
var jobRow = regexp.MustCompile(`<tr class="job"><td><a href="([^"]*)">#(\d+)</a>`)

func rowsOf(page string) []int {
	var ids []int
	for _, m := range jobRow.FindAllStringSubmatch(page, -1) {
		id, _ := strconv.Atoi(m[2])
		ids = append(ids, id)
	}
	return ids
}

func TestListIsNewestFirstAndPaged(t *testing.T) {
	f := newFixture(t, true)
	var js []listed
	for range 120 {
		js = append(js, listed{})
	}
	f.make(t, js...)
	var all []int
	next := f.srv.URL + "/jobs"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("the list never ends")
		}
		code, body := get(t, next)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", next, code, body)
		}
		ids := rowsOf(body)
		if want := []int{50, 50, 20}[pages]; len(ids) != want {
			t.Fatalf("page %d has %d jobs, want %d", pages+1, len(ids), want)
		}
		all = append(all, ids...)
		next = ""
		if m := regexp.MustCompile(`<a id="older" href="([^"]*)"`).FindStringSubmatch(body); m != nil {
			next = f.srv.URL + html.UnescapeString(m[1])
		}
		if pages > 0 && !strings.Contains(body, `id="newest"`) {
			t.Errorf("page %d has no way back to the newest jobs", pages+1)
		}
	}
	for i, id := range all {
		if id != 120-i {
			t.Fatalf("the list's job %d is #%d, want #%d: newest first, each once", i+1, id, 120-i)
		}
	}
	if code, _ := get(t, f.srv.URL+"/jobs?before=999"); code != http.StatusNotFound {
		t.Errorf("older than a job that does not exist: %d", code)
	}
}

func TestListFilters(t *testing.T) {
	f := newFixture(t, true)
	f.make(t,
		listed{repo: "api", who: "U1", state: jobs.Succeeded},               // #1
		listed{repo: "api", who: "U2", state: jobs.Failed},                  // #2
		listed{repo: "web", who: "U1", env: "staging"},                      // #3
		listed{repo: "api", who: "U1", env: "production"},                   // #4
		listed{repo: "web", who: "", state: jobs.Failed},                    // #5 GitHub's
		listed{repo: "api", who: "U3", state: jobs.Running},                 // #6
		listed{repo: "web", who: "U2", env: "staging", state: jobs.Running}, // #7
	)
	for q, want := range map[string][]int{
		"":                         {7, 6, 5, 4, 3, 2, 1},
		"repo=api":                 {6, 4, 2, 1},
		"state=failed":             {5, 2},
		"person=U1":                {4, 3, 1},
		"person=github":            {5},
		"env=staging":              {7, 3},
		"repo=api&person=U1":       {4, 1},
		"repo=api&state=succeeded": {1},
		"repo=nope":                nil,
	} {
		code, body := get(t, f.srv.URL+"/jobs?"+q)
		if got := rowsOf(body); code != http.StatusOK || !equalInts(got, want) {
			t.Errorf("/jobs?%s: %d, jobs %v, want %v", q, code, got, want)
		}
	}
	if code, body := get(t, f.srv.URL+"/jobs?state=broken"); code != http.StatusBadRequest || !strings.Contains(body, "state must be one of") {
		t.Errorf("an unknown state: %d %s", code, body)
	}
	// The form keeps what it filters by.
	_, body := get(t, f.srv.URL+"/jobs?repo=api&state=failed")
	if !strings.Contains(body, `name="repo" value="api"`) || !strings.Contains(body, `<option selected>failed</option>`) {
		t.Errorf("the form does not show its filter:\n%s", body)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// With web.public set the list is open, and shows a private channel's job
// only where web.public_channels names the channel.
func TestPublicListHidesPrivateChannelsJobs(t *testing.T) {
	f := newFixture(t, true, func(d *web.Deps) { d.PublicChannels = []string{"GOPEN"} })
	f.make(t,
		listed{channel: "C1"},
		listed{channel: "GSECRET", private: true},
		listed{channel: "GOPEN", private: true},
		listed{channel: "GSECRET", private: true},
	)
	code, body := get(t, f.srv.URL+"/jobs")
	if got := rowsOf(body); code != http.StatusOK || !equalInts(got, []int{3, 1}) {
		t.Fatalf("public list: %d, jobs %v, want [3 1]", code, got)
	}
	// Its rows link to pages that open without a link.
	for _, m := range jobRow.FindAllStringSubmatch(body, -1) {
		if code, _ := get(t, f.srv.URL+html.UnescapeString(m[1])); code != http.StatusOK {
			t.Errorf("row link %s answered %d", m[1], code)
		}
	}
	// A hidden job's page stays shut without its own link.
	if code, _ := get(t, f.srv.URL+"/jobs/2"); code != http.StatusForbidden {
		t.Errorf("the private channel's page answered %d", code)
	}
	// Every filter keeps them out.
	for _, q := range []string{"repo=hello", "person=", "state=queued"} {
		if _, body := get(t, f.srv.URL+"/jobs?"+q); strings.Contains(body, ">#2<") || strings.Contains(body, ">#4<") {
			t.Errorf("/jobs?%s lists a private channel's job", q)
		}
	}
}

// Without web.public the list needs its signed link, and never lists a
// private channel's job.
func TestSignedListHidesPrivateChannelsJobs(t *testing.T) {
	f := newFixture(t, false, func(d *web.Deps) { d.PublicChannels = []string{"GOPEN"} })
	f.make(t,
		listed{channel: "C1"},
		listed{channel: "GSECRET", private: true},
		listed{channel: "GOPEN", private: true},
	)
	for _, u := range []string{"/jobs", "/jobs?exp=99999999999&sig=00", "/"} {
		resp, err := http.Get(f.srv.URL + u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s without a good list link: %d", u, resp.StatusCode)
		}
	}
	// A job link is not a list link.
	jobQuery := strings.SplitN(f.links.Job(1), "?", 2)[1]
	if code, _ := get(t, f.srv.URL+"/jobs?"+jobQuery); code != http.StatusForbidden {
		t.Errorf("a job's signature opened the list: %d", code)
	}
	list := f.path(f.links.List())
	code, body := get(t, list)
	if got := rowsOf(body); code != http.StatusOK || !equalInts(got, []int{1}) {
		t.Fatalf("signed list: %d, jobs %v, want [1]", code, got)
	}
	// The row links carry their own signatures, and open the page.
	m := jobRow.FindStringSubmatch(body)
	if code, _ := get(t, f.srv.URL+html.UnescapeString(m[1])); code != http.StatusOK {
		t.Errorf("the row's link %s answered %d", m[1], code)
	}
	// The filter form carries the signature.
	if !strings.Contains(body, `<input type="hidden" name="sig"`) {
		t.Error("the filter form drops the list link's signature")
	}
	// "/" goes to the list, signature and all.
	resp, err := http.Get(strings.Replace(list, "/jobs?", "/?", 1))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/jobs" {
		t.Errorf("/ with the list link: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	// The list link expires.
	f.now = f.now.Add(2 * time.Hour)
	if code, body := get(t, list); code != http.StatusForbidden || !strings.Contains(body, "expired") {
		t.Errorf("expired list link: %d %s", code, body)
	}
}
