package web

import (
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// fmtDuration writes d as precisely as is worth reading: a 40 ms job is
// "40ms", not "0s"; seconds keep two decimals under a minute; longer
// durations are whole seconds.
func fmtDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// timeLayout is how pages write a moment: in UTC, to the millisecond the
// job record keeps.
const timeLayout = "2006-01-02 15:04:05.000 UTC"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeLayout)
}

// jobTimes is when a job was queued, started and ended, and how long it
// waited and ran, as a page shows them.
type jobTimes struct {
	Queued   string `json:"queued"`
	Started  string `json:"started"`
	Finished string `json:"finished"`
	Waited   string `json:"waited"`  // from queued to started
	Elapsed  string `json:"elapsed"` // from started to ended, or to now (whole seconds)
}

func timesOf(j *jobs.Job, now time.Time) jobTimes {
	t := jobTimes{Queued: fmtTime(j.Created), Started: fmtTime(j.Started), Finished: fmtTime(j.Finished)}
	if !j.Started.IsZero() && !j.Created.IsZero() {
		t.Waited = fmtDuration(j.Started.Sub(j.Created))
	}
	d := j.Duration(now)
	if j.Finished.IsZero() {
		// Still going: whole seconds, so that a live page's state
		// changes (and is sent) once a second, not at every look.
		d = d.Truncate(time.Second)
	}
	t.Elapsed = fmtDuration(d)
	return t
}
