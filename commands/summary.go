package commands

import (
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// Summary is one line about a job: where it has got to, and why it ended as
// it did. The notice at the end of a job's thread shows it, where what the
// job is goes without saying.
func Summary(j *jobs.Job, now time.Time) say.Text { return summary(j, now, false) }

// Line is Summary with what the job is and who asked for it: one line of
// `status` and `queue`.
func Line(j *jobs.Job, now time.Time) say.Text { return summary(j, now, true) }

func summary(j *jobs.Job, now time.Time, what bool) say.Text {
	var b say.Builder
	b.F("%s %s", StateEmoji(j.State), j.Name())
	if what {
		b.F(" %s %s", j.What(), describeTarget(j))
		if j.Requester != "" {
			b.F(" by %s", Mention(j.Requester))
		}
		b.Add(":")
	}
	b.F(" %s", j.State)
	if j.State == jobs.Running && len(j.Plan.Steps) > 0 && j.Step > 0 {
		b.F(" at step %d of %d", j.Step, len(j.Plan.Steps))
	}
	if d := j.Duration(now); d > 0 {
		if j.State.Final() {
			b.F(" in %s", RoundDuration(d))
		} else {
			b.F(", %s", RoundDuration(d))
		}
	}
	if j.HasExit && j.ExitCode != 0 {
		b.F(" (exit code %d)", j.ExitCode)
	}
	if r := Reason(j); r != "" {
		b.F(": %s", r)
	}
	if j.State == jobs.Failed && j.Step > 0 && j.Step <= len(j.Plan.Steps) {
		b.F(": step %d (%s) failed", j.Step, j.Plan.Steps[j.Step-1].Name)
	}
	if t := Tests(j); t != "" {
		b.F("; %s", t)
	}
	return b.Text()
}

// namedFailures is how many failing tests a summary line names.
const namedFailures = 5

// Tests is what a job's test reports said, in one line: "412 passed, 3
// failed, 2 skipped (failing: api.TestA, api.TestB)"; "" when it has none.
func Tests(j *jobs.Job) say.Text {
	if !j.State.Final() || j.Results == nil || j.Results.Tests == nil {
		return ""
	}
	t := j.Results.Tests
	if t.Files == 0 {
		return ""
	}
	var b say.Builder
	b.F("tests: %s", t.Counts())
	if len(t.Failures) > 0 {
		names := make([]say.Text, 0, namedFailures)
		for _, f := range t.Failures[:min(len(t.Failures), namedFailures)] {
			names = append(names, say.Quote(f.Name))
		}
		b.Add(" (failing: " + say.Join(names, ", "))
		if more := t.Failed - len(names); more > 0 {
			b.F(" and %d more", more)
		}
		b.Add(")")
	}
	return b.Text()
}

// Reason is the record's reason when it says something about the job's
// state now: why it waits, why it was cancelled or errored, why a retry
// was queued. A job that moved on keeps its last wait reason in the record
// ("waiting for db (1st in line)"); that is never shown.
func Reason(j *jobs.Job) say.Text {
	switch {
	case j.State == jobs.Waiting, j.State == jobs.Cancelled, j.State == jobs.Errored:
		return j.Reason
	case j.State == jobs.Queued && j.Attempt > 1 && strings.HasPrefix(string(j.Reason), "errored: "):
		return j.Reason // the retry's "errored: …; retrying in 10s"
	}
	return ""
}

// RoundDuration rounds d as people read durations: to 10 ms below 10 s,
// to the second above.
func RoundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// StateEmoji is the emoji shown beside each state, as a Slack shortcode
// (the console shows the character).
func StateEmoji(s jobs.State) string {
	switch s {
	case jobs.Queued:
		return ":hourglass_flowing_sand:"
	case jobs.AwaitingApproval:
		return ":raised_hand:"
	case jobs.Waiting:
		return ":double_vertical_bar:"
	case jobs.Running:
		return ":arrows_counterclockwise:"
	case jobs.Succeeded:
		return ":white_check_mark:"
	case jobs.Failed:
		return ":x:"
	case jobs.Cancelled:
		return ":no_entry_sign:"
	case jobs.Errored:
		return ":warning:"
	}
	return ":grey_question:"
}

// ApprovalRequest is what the thread of a deploy awaiting approval says to
// the people who may approve it, naming them so that they are notified.
func ApprovalRequest(j *jobs.Job) say.Text {
	var b say.Builder
	if len(j.Approvers) > 0 {
		b.F("%s needs approval from %s: %s %s", j.Name(), people(j.Approvers), j.What(), describeTarget(j))
	} else {
		b.F("%s needs approval: %s %s", j.Name(), j.What(), describeTarget(j))
	}
	if j.Requester != "" {
		b.F(", asked by %s", Mention(j.Requester))
	}
	b.Add(".")
	if j.Rejection != "" {
		b.Add(" " + j.Rejection + ".")
	}
	if j.Override != "" {
		b.Add(" " + j.Override + ".")
	}
	return b.Text()
}
