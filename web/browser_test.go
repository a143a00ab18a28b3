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

// TestJobPageInChromium opens a running job's page in a real headless
// Chromium and watches it the way a person would.
func TestJobPageInChromium(t *testing.T) {
	f := newFixture(t, false)
	j := f.job(t, "\x1b[31mred before\x1b[0m")
	ctx := context.Background()
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Running}); err != nil {
		t.Fatal(err)
	}
	b := browser.Start(t)
	b.Navigate(f.path(f.links.Job(j.ID)))
	b.WaitText("red before", 20*time.Second)
	b.WaitText("running", 5*time.Second)

	// Lines written now arrive without a reload.
	w := f.log.Writer(ctx, j.ID)
	w.Line("first live line")
	w.Line("\x1b[1;32msecond live line\x1b[0m")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	b.WaitText("second live line", 10*time.Second)
	if _, err := f.store.Transition(ctx, j.ID, jobs.Change{To: jobs.Succeeded}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if v, _ := b.Eval("document.getElementById('state').textContent"); v == `"succeeded"` {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if v, _ := b.Eval("document.getElementById('state').textContent"); v != `"succeeded"` {
		t.Fatalf("state shown = %s, want succeeded", v)
	}
	// ANSI colours render as colours.
	red, err := b.Eval("getComputedStyle(document.querySelector('#log .fg-red')).color")
	if err != nil || red != `"rgb(255, 107, 107)"` {
		t.Errorf("red text is %s (%v)", red, err)
	}
	green, err := b.Eval("getComputedStyle(document.querySelector('#log .fg-green.bold')).fontWeight")
	if err != nil || green != `"700"` {
		t.Errorf("bold green text has weight %s (%v)", green, err)
	}
	if text := b.Text(); strings.Count(text, "first live line") != 1 {
		t.Errorf("a live line shows other than once:\n%s", text)
	}
}

func TestForgedAndExpiredLinksAreRefusedInChromium(t *testing.T) {
	f := newFixture(t, false)
	j := f.job(t, "secret output")
	link := f.path(f.links.Job(j.ID))
	b := browser.Start(t)
	b.Navigate(strings.Replace(link, "sig=", "sig=00", 1))
	b.WaitText("this link's signature does not match", 20*time.Second)
	f.now = f.now.Add(48 * time.Hour)
	b.Navigate(link)
	b.WaitText("this link has expired", 10*time.Second)
	if strings.Contains(b.Text(), "secret output") {
		t.Error("a refused link showed the log")
	}
}

func TestEarlierLinesInChromium(t *testing.T) {
	f := newFixture(t, false)
	var lines []string
	for i := range 6000 {
		lines = append(lines, fmt.Sprintf("row %04d %s", i, strings.Repeat("-", 70)))
	}
	j := f.job(t, lines...)
	b := browser.Start(t)
	b.Navigate(f.path(f.links.Job(j.ID)))
	b.WaitText("row 5999", 20*time.Second)
	if strings.Contains(b.Text(), "row 0000 ") {
		t.Fatal("the page shows the whole log at once")
	}
	for range 10 {
		if v, _ := b.Eval("document.getElementById('earlier') !== null"); v != "true" {
			break
		}
		before, _ := b.Eval("document.getElementById('earlier').dataset.before")
		if _, err := b.Eval("document.getElementById('earlier').click()"); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			now, _ := b.Eval("document.getElementById('earlier') ? document.getElementById('earlier').dataset.before : '0'")
			if now != before {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	b.WaitText("row 0000 ", 10*time.Second)
	text := b.Text()
	for _, row := range []string{"row 0000 ", "row 3000 ", "row 5999 "} {
		if n := strings.Count(text, row); n != 1 {
			t.Errorf("%q shows %d times, want once", row, n)
		}
	}
	if v, _ := b.Eval("document.getElementById('earlier-bar') === null"); v != "true" {
		t.Error("the earlier lines link stays after the log's start was loaded")
	}
}
