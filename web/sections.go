package web

import (
	"bytes"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// A page draws a log as sections: one per run of a step, from its start
// marker line to its end marker line, as a <details> people can fold; and
// plain sections for the lines before the first step and between steps.
// Every line is a <div id="L12"> with a link to itself, numbered as in the
// raw log. A section carries data-seg, a key that is the same wherever the
// section is cut (s3: run 3 of a step, o3: after it, o-1: before any
// step), so that the page's script can join the two halves when earlier
// lines arrive.

// render draws b, whole lines of the log that start at offset from with
// line number first, as sections.
func (v *logView) render(b []byte, from, first int64) string {
	if len(b) == 0 {
		return ""
	}
	var out strings.Builder
	var a ansi
	open := "" // the closing tag of the section being drawn
	cur, curIn := -2, false
	off, n := from, first
	for _, ln := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		k, in := v.segmentAt(off)
		if open == "" || k != cur || in != curIn {
			out.WriteString(open)
			open = v.openSection(&out, k, in)
			cur, curIn = k, in
		}
		writeLine(&out, n, lineTime(jobs.TimeAt(v.times, off)), a.Line(string(ln)))
		off += int64(len(ln)) + 1
		n++
	}
	out.WriteString(open)
	return out.String()
}

// openSection writes the start of the section of run k (in its step, or
// after it) and returns its closing tags.
func (v *logView) openSection(out *strings.Builder, k int, inStep bool) string {
	if !inStep {
		out.WriteString(`<div class="seg out" data-seg="o` + strconv.Itoa(k) + `"><div class="lines">`)
		return "</div></div>\n"
	}
	r := v.steps[k]
	res := v.result(k)
	attrs := ` class="seg step ` + resultClass(res) + `" data-seg="s` + strconv.Itoa(k) + `"`
	if r.end >= 0 {
		attrs += ` data-ended="1"`
	}
	if res != "succeeded" {
		attrs += " open" // what failed or still runs is what people look for
	}
	out.WriteString("<details" + attrs + "><summary>")
	out.WriteString(`<span class="sh">step ` + strconv.Itoa(r.n) + "/" + strconv.Itoa(r.of) + `</span> <code>` + html.EscapeString(r.name) + "</code>")
	out.WriteString(` <span class="res">` + html.EscapeString(res) + `</span> <span class="took">` + html.EscapeString(r.took) + "</span>")
	out.WriteString(`</summary><div class="lines">`)
	return "</div></details>\n"
}

// resultClass is the CSS class of a step's result: succeeded, failed,
// running, or other (cancelled, errored, interrupted).
func resultClass(res string) string {
	switch {
	case res == "succeeded", res == "running":
		return res
	case strings.HasPrefix(res, "failed"):
		return "failed"
	}
	return "other"
}

// writeLine writes line n, taken at the time at (HH:MM:SS, or ""), its
// text already rendered as HTML. The number and the time are drawn from
// data-n and data-t by CSS, so that they are neither copied nor searched
// with the text.
func writeLine(out *strings.Builder, n int64, at, text string) {
	id := strconv.FormatInt(n, 10)
	t := ""
	if at != "" {
		t = ` data-t="` + at + `"`
	}
	out.WriteString(`<div class="l" id="L` + id + `"><a href="#L` + id + `" data-n="` + id + `"` + t + `></a>` + text + "</div>\n")
}

// lineTime is how a line's time shows: the time of day in UTC, to the
// second; "" when the log does not say.
func lineTime(at time.Time) string {
	if at.IsZero() {
		return ""
	}
	return at.UTC().Format("15:04:05")
}
