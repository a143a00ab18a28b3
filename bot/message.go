// Package bot holds gantry's chat front ends (Slack Socket Mode and the
// terminal console) and the one path that turns a job's progress into the
// messages of its thread.
package bot

import (
	"fmt"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
)

// Message is something gantry says, before a front end renders it: Slack
// builds Block Kit from it, the console prints its Text.
type Message struct {
	Text    string
	Card    *Card    // set for a job's own message
	Buttons []Button // actions offered under the message
	// Step marks a step's start or end: the console skips these, since the
	// log it prints already shows them.
	Step bool
	// Mention is the person the message is for (a user id): Slack puts a
	// mention of them first, so that they are notified.
	Mention string
	// Log holds log lines shown under the text (a failed job's last lines);
	// the console, which printed them already, leaves them out.
	Log []string
	// Weight says how much the message matters when a channel is busy.
	Weight Weight
}

// Weight orders messages that wait for a busy channel. The zero value is
// the heaviest, so that an answer to someone is never held back by a note.
type Weight int

const (
	// WeightAnswer is an answer to someone or a job's own message.
	WeightAnswer Weight = iota
	// WeightNotice notifies people: a job's end, a request for approval.
	WeightNotice
	// WeightAside can wait: a note in a job's thread.
	WeightAside
)

// Card is the job message: what the job is and where it has got to.
type Card struct {
	Job      int64
	Title    string // "build hello@main"
	SHA      string // short SHA
	Who      string // requester as a mention, or "GitHub"
	State    jobs.State
	Emoji    string
	Step     int
	Steps    int
	Elapsed  time.Duration
	Reason   string
	ExitCode *int
	Link     string // the job page
	// Notes are what an approver must know: the policy that asks for the
	// approval, an earlier rejection of the same change.
	Notes []string
}

// Button is an action on a job. Action is the verb it performs.
type Button struct {
	Label  string // Approve, Reject, Cancel, Retry, Logs
	Action commands.Verb
	Job    int64
	Style  string // "primary", "danger" or ""
}

// StateEmoji is the emoji shown beside each state.
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

// JobMessage renders the job message for j.
func JobMessage(j *jobs.Job, now time.Time, link string) Message {
	who := "GitHub"
	if j.Requester != "" {
		who = commands.Mention(j.Requester)
	}
	c := &Card{
		Job: j.ID, Title: j.What() + " " + j.Target(), SHA: j.ShortSHA(), Who: who, State: j.State,
		Emoji: StateEmoji(j.State), Step: j.Step, Steps: len(j.Plan.Steps), Elapsed: j.Duration(now),
		Reason: Reason(j), Link: link,
	}
	if j.HasExit {
		code := j.ExitCode
		c.ExitCode = &code
	}
	switch {
	case j.State == jobs.AwaitingApproval:
		for _, n := range []string{j.Rejection, j.Policy} {
			if n != "" {
				c.Notes = append(c.Notes, n)
			}
		}
	case j.Decision != "" && j.State != jobs.Cancelled:
		// A rejection is the reason a deploy was cancelled; an approval is
		// said here, once, instead of in a reply of its own.
		c.Notes = append(c.Notes, capitalize(j.Decision))
	}
	m := Message{Card: c, Text: CardText(c)}
	switch {
	case j.State == jobs.Queued || j.State == jobs.Running || j.State == jobs.Waiting:
		m.Buttons = []Button{{Label: "Cancel", Action: commands.VerbCancel, Job: j.ID, Style: "danger"}}
	case j.State == jobs.AwaitingApproval:
		m.Buttons = []Button{
			{Label: "Approve", Action: commands.VerbApprove, Job: j.ID, Style: "primary"},
			{Label: "Reject", Action: commands.VerbReject, Job: j.ID, Style: "danger"},
			{Label: "Cancel", Action: commands.VerbCancel, Job: j.ID},
		}
	case j.State.Final():
		m.Buttons = []Button{
			{Label: "Retry", Action: commands.VerbRetry, Job: j.ID},
			{Label: "Logs", Action: commands.VerbLogs, Job: j.ID},
		}
	}
	return m
}

// CardText is the card as one line of plain text.
func CardText(c *Card) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s", c.Job, c.Title)
	if c.SHA != "" {
		fmt.Fprintf(&b, " (%s)", c.SHA)
	}
	fmt.Fprintf(&b, " by %s: %s", c.Who, c.State)
	if step := c.stepShown(); step != "" {
		b.WriteString(" " + step)
	}
	if c.Elapsed > 0 {
		fmt.Fprintf(&b, ", %s", roundDuration(c.Elapsed))
	}
	if c.ExitCode != nil && *c.ExitCode != 0 {
		fmt.Fprintf(&b, ", exit code %d", *c.ExitCode)
	}
	if c.Reason != "" {
		fmt.Fprintf(&b, " — %s", c.Reason)
	}
	for _, n := range c.Notes {
		b.WriteString("\n  " + n)
	}
	return b.String()
}

// stepShown is where a running job has got to ("at step 2 of 3"), or the
// step a failed job failed in ("in step 2 of 3"); "" in any other state, so
// that no step shows stale.
func (c *Card) stepShown() string {
	if c.Steps == 0 || c.Step == 0 {
		return ""
	}
	switch c.State {
	case jobs.Running:
		return fmt.Sprintf("at step %d of %d", c.Step, c.Steps)
	case jobs.Failed:
		return fmt.Sprintf("in step %d of %d", c.Step, c.Steps)
	}
	return ""
}

// Reason is the record's reason when it says something about the job's
// state now: why it waits, why it was cancelled or errored, why a retry
// was queued. A job that moved on keeps its last wait reason in the record
// ("waiting for db (1st in line)"); that is never shown.
func Reason(j *jobs.Job) string {
	switch {
	case j.State == jobs.Waiting, j.State == jobs.Cancelled, j.State == jobs.Errored:
		return j.Reason
	case j.State == jobs.Queued && j.Attempt > 1 && strings.HasPrefix(j.Reason, "errored: "):
		return j.Reason // the retry's "errored: …; retrying in 10s"
	}
	return ""
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func roundDuration(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// Summary is the last message of a job's thread.
func Summary(j *jobs.Job, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s in %s", StateEmoji(j.State), j.Name(), j.State, roundDuration(j.Duration(now)))
	if j.HasExit {
		fmt.Fprintf(&b, " (exit code %d)", j.ExitCode)
	}
	if r := Reason(j); r != "" {
		fmt.Fprintf(&b, ": %s", r)
	}
	if j.State == jobs.Failed && j.Step > 0 && j.Step <= len(j.Plan.Steps) {
		fmt.Fprintf(&b, ": step %d (%s) failed", j.Step, jobs.ChatEscape(j.Plan.Steps[j.Step-1].Name))
	}
	return b.String()
}
