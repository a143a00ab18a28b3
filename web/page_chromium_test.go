package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/browser"
	"github.com/gantry-ci/gantry/jobs"
)

// Scripts the tests ask the page, as a person would look at it.
const (
	jsRows = `Array.from(document.querySelectorAll('tr.job a')).map(function (a) { return a.textContent; }).join(' ')`
	// jsVisible lists the log's lines a person can see.
	jsVisible = `Array.from(document.querySelectorAll('#log .l')).filter(function (e) { return e.checkVisibility(); }).map(function (e) { return e.id; }).join(' ')`
)

func TestJobListInChromium(t *testing.T) {
	f := newFixture(t, true)
	f.make(t,
		listed{repo: "api", who: "U1", state: jobs.Succeeded},                      // #1
		listed{repo: "web", who: "U2", state: jobs.Failed},                         // #2
		listed{repo: "api", who: "U2", state: jobs.Failed},                         // #3
		listed{repo: "api", channel: "GSECRET", private: true, state: jobs.Failed}, // #4: never listed
	)
	var filler []listed
	for range 50 {
		filler = append(filler, listed{repo: "web", who: "U3"})
	}
	f.make(t, filler...) // #5 to #54
	b := browser.Start(t)

	// "/" is the list: newest first, 50 a page.
	b.Navigate(f.srv.URL + "/")
	b.WaitTrue(`location.pathname === '/jobs' && document.querySelectorAll('tr.job').length === 50`, 20*time.Second)
	if v, _ := b.Eval(`document.querySelector('tr.job a').textContent`); v != `"#54"` {
		t.Errorf("the list starts with %s, want the newest job, #54", v)
	}
	b.Click("#older")
	b.WaitTrue(`location.search.indexOf('before=5') >= 0 && document.querySelectorAll('tr.job').length === 3`, 10*time.Second)
	if v, _ := b.Eval(jsRows); v != `"#3 #2 #1"` {
		t.Errorf("the older page lists %s, want #3 #2 #1 (not #4, a private channel's)", v)
	}

	// The form filters by repo and state.
	b.Click("#newest")
	b.WaitTrue(`document.querySelectorAll('tr.job').length === 50`, 10*time.Second)
	b.Type(`input[name="repo"]`, "api")
	if _, err := b.Eval(`document.querySelector('select[name="state"]').value = 'failed'`); err != nil {
		t.Fatal(err)
	}
	b.Click(`#filter button`)
	b.WaitTrue(`location.search.indexOf('repo=api') >= 0 && document.querySelectorAll('tr.job').length === 1`, 10*time.Second)
	if v, _ := b.Eval(jsRows); v != `"#3"` {
		t.Errorf("repo api, state failed lists %s, want #3", v)
	}
	if v, _ := b.Eval(`document.querySelector('input[name="repo"]').value + ' ' + document.querySelector('select[name="state"]').value`); v != `"api failed"` {
		t.Errorf("the form shows %s after filtering, want its filter", v)
	}

	// A row opens its job's page.
	b.Click("tr.job a")
	b.WaitText("#3 build api@main", 10*time.Second)
	b.WaitTrue(`location.pathname === '/jobs/3'`, 5*time.Second)
}

func TestLineAnchorsInChromium(t *testing.T) {
	f := newFixture(t, false)
	j := f.stepJob(t)
	b := browser.Start(t)

	// #L3 is in step 1, which succeeded and so starts folded: the page
	// opens it and marks the line.
	b.Navigate(f.path(f.links.Job(j.ID)) + "#L3")
	b.WaitTrue(`!!document.getElementById('L3') && document.getElementById('L3').checkVisibility()`, 20*time.Second)
	if v, _ := b.Eval(`document.querySelector(':target') && document.querySelector(':target').id`); v != `"L3"` {
		t.Errorf("the targeted element is %s, want L3", v)
	}
	if v, _ := b.Eval(`getComputedStyle(document.getElementById('L3')).backgroundColor`); v != `"rgb(61, 58, 28)"` {
		t.Errorf("#L3 has background %s, want the highlight", v)
	}
	if v, _ := b.Eval(`getComputedStyle(document.getElementById('L4')).backgroundColor`); v == `"rgb(61, 58, 28)"` {
		t.Error("an untargeted line is highlighted too")
	}
	if v, _ := b.Eval(`document.querySelector('#L3 > a').getAttribute('href')`); v != `"#L3"` {
		t.Errorf("line 3's number links to %s", v)
	}

	// Clicking a line's number links to it.
	b.Click("#L6 > a")
	// The page marks the line when the hash changes, an event that may come
	// a moment after the hash itself.
	b.WaitTrue(`location.hash === '#L6' && document.querySelector(':target').id === 'L6' && document.getElementById('L6').classList.contains('hl')`, 5*time.Second)
	if v, _ := b.Eval(`document.querySelectorAll('#log .l.hl').length + ' ' + document.getElementById('L6').classList.contains('hl')`); v != `"1 true"` {
		t.Errorf("after a click on line 6: %s lines marked, line 6 marked: want 1 true", v)
	}

	// A line before the end the page shows is loaded, then marked.
	var lines []string
	for i := range 6000 {
		lines = append(lines, fmt.Sprintf("row %04d %s", i+1, strings.Repeat("-", 70)))
	}
	big := f.job(t, lines...)
	b.Navigate(f.path(f.links.Job(big.ID)) + "#L5")
	b.WaitTrue(`!!document.getElementById('L5') && document.getElementById('L5').classList.contains('hl')`, 20*time.Second)
	if v, _ := b.Eval(`document.querySelector('#L5').textContent`); v != fmt.Sprintf("%q", lines[4]) {
		t.Errorf("#L5 reads %s, want %q", v, lines[4])
	}
	if v, _ := b.Eval(`document.querySelectorAll('#log .l').length`); v != "6000" {
		t.Errorf("after loading up to line 5 the page has %s lines, want all 6000 once", v)
	}
}

func TestStepSectionsFoldAndSearchFiltersInChromium(t *testing.T) {
	f := newFixture(t, true)
	f.stepJob(t)
	b := browser.Start(t)
	b.Navigate(f.srv.URL + "/jobs/1")
	b.WaitTrue(`!!document.querySelector('[data-seg="s1"]')`, 20*time.Second)

	// The step that succeeded is folded, the one that failed is open.
	if v, _ := b.Eval(jsVisible); v != `"L1 L5 L6 L7 L8"` {
		t.Errorf("visible lines at first: %s, want step 1 folded", v)
	}
	if v, _ := b.Eval(`document.querySelector('[data-seg="s0"] > summary').innerText`); !strings.Contains(v, "make build") || !strings.Contains(v, "succeeded") || !strings.Contains(v, "1.5s") {
		t.Errorf("step 1's heading reads %s, want its name, result and duration", v)
	}
	b.Click(`[data-seg="s0"] > summary`)
	b.WaitTrue(`document.querySelector('[data-seg="s0"]').open && document.getElementById('L3').checkVisibility()`, 5*time.Second)
	b.Click(`[data-seg="s1"] > summary`)
	b.WaitTrue(`!document.querySelector('[data-seg="s1"]').open && !document.getElementById('L6').checkVisibility()`, 5*time.Second)
	b.Click(`[data-seg="s0"] > summary`)
	b.WaitTrue(`!document.querySelector('[data-seg="s0"]').open && !document.getElementById('L3').checkVisibility()`, 5*time.Second)

	// Typing in the search box keeps the lines that match, in any case,
	// and opens the folded sections they are in.
	b.Type("#search", "Compil")
	b.WaitTrue(`document.getElementById('matches').textContent === '1 matching'`, 5*time.Second)
	if v, _ := b.Eval(jsVisible); v != `"L3"` {
		t.Errorf("searching for Compil shows %s, want L3", v)
	}
	if v, _ := b.Eval(`document.querySelector('[data-seg="s1"]').checkVisibility()`); v != "false" {
		t.Error("a section with no match still shows")
	}
	b.Type("#search", "ing") // the box now says "Compiling"
	b.WaitTrue(`document.getElementById('matches').textContent === '1 matching'`, 5*time.Second)
	if _, err := b.Eval(`var s = document.getElementById('search'); s.value = 'fail'; s.dispatchEvent(new Event('input'))`); err != nil {
		t.Fatal(err)
	}
	b.WaitTrue(`document.getElementById('matches').textContent === '2 matching'`, 5*time.Second)
	if v, _ := b.Eval(jsVisible); v != `"L6 L7"` {
		t.Errorf("searching for fail shows %s, want L6 L7", v)
	}
	if _, err := b.Eval(`var s = document.getElementById('search'); s.value = ''; s.dispatchEvent(new Event('input'))`); err != nil {
		t.Fatal(err)
	}
	b.WaitTrue(`document.getElementById('matches').textContent === ''`, 5*time.Second)
	if v, _ := b.Eval(`document.querySelectorAll('#log .nomatch').length`); v != "0" {
		t.Errorf("%s lines and sections stay hidden after the search is cleared", v)
	}

	// Lines show their times when asked, beside their numbers, and the
	// times are not part of the text people copy or search.
	const jsShown = `getComputedStyle(document.querySelector('#L6 > a'), '::before').content`
	if v, _ := b.Eval(jsShown); v != `"\"6\""` {
		t.Errorf("line 6 shows %s before times are asked for, want its number alone", v)
	}
	b.Click("#times")
	want := fmt.Sprintf(`"\"%s  6\""`, logClock.Format("15:04:05"))
	if v, _ := b.Eval(jsShown); v != want {
		t.Errorf("with times, line 6 shows %s, want %s", v, want)
	}
	if v, _ := b.Eval(`document.getElementById('L6').textContent`); v != `"FAIL TestSomething"` {
		t.Errorf("line 6's text is %s", v)
	}
	b.Click("#times")
	if v, _ := b.Eval(jsShown); v != `"\"6\""` {
		t.Errorf("line 6 shows %s after times are hidden again", v)
	}
}

func TestLiveFollowCutsStepsInChromium(t *testing.T) {
	f := newFixture(t, false)
	j := f.job(t, "checking out hello@main")
	ctx := context.Background()
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Running}); err != nil {
		t.Fatal(err)
	}
	b := browser.Start(t)
	b.Navigate(f.path(f.links.Job(j.ID)))
	b.WaitText("checking out hello@main", 20*time.Second)
	b.WaitText("running", 5*time.Second)

	w := f.log.Writer(ctx, j.ID)
	w.Line("── step 1/1: make test")
	w.Line("ok  \x1b[32mgantry/web\x1b[0m")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b.WaitTrue(`!!document.getElementById('L3')`, 10*time.Second)
	if v, _ := b.Eval(`document.getElementById('L3').closest('.seg').dataset.seg + ' ' + document.querySelector('[data-seg="s0"] .res').textContent`); v != `"s0 running"` {
		t.Errorf("a live line in a running step is in %s, want s0, running", v)
	}
	w.Line("── step 1/1 succeeded in 40ms: make test")
	w.Line("releasing the lease")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b.WaitTrue(`!!document.getElementById('L5')`, 10*time.Second)
	if v, _ := b.Eval(`[document.querySelector('[data-seg="s0"]').className, document.querySelector('[data-seg="s0"] .took').textContent, document.getElementById('L5').closest('.seg').dataset.seg].join(' ')`); v != `"seg step succeeded 40ms o0"` {
		t.Errorf("after the step's end: %s, want it succeeded in 40ms and the next line after it", v)
	}
	if v, _ := b.Eval(`document.querySelector('#L3 .fg-green') !== null`); v != "true" {
		t.Error("live lines lose their colours")
	}

	// A live line can be linked to.
	b.Click("#L4 > a")
	b.WaitTrue(`location.hash === '#L4' && getComputedStyle(document.getElementById('L4')).backgroundColor === 'rgb(61, 58, 28)'`, 5*time.Second)

	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	b.WaitTrue(`document.getElementById('state').textContent === 'succeeded' && document.getElementById('finished').textContent !== 'not yet'`, 10*time.Second)
	if v, _ := b.Eval(`document.querySelectorAll('#log .l').length`); v != "5" {
		t.Errorf("the page shows %s lines, want each of the 5 once", v)
	}
}
