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
}

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
		Reason: j.Reason, Link: link,
	}
	if j.HasExit {
		code := j.ExitCode
		c.ExitCode = &code
	}
	if j.State == jobs.AwaitingApproval {
		for _, n := range []string{j.Rejection, j.Policy} {
			if n != "" {
				c.Notes = append(c.Notes, n)
			}
		}
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
	if c.State == jobs.Running && c.Steps > 0 && c.Step > 0 {
		fmt.Fprintf(&b, ", step %d of %d", c.Step, c.Steps)
	}
	if c.Elapsed > 0 {
		fmt.Fprintf(&b, ", %s", roundDuration(c.Elapsed))
	}
	if c.ExitCode != nil && *c.ExitCode != 0 {
		fmt.Fprintf(&b, ", exit code %d", *c.ExitCode)
	}
	if c.Reason != "" && (c.State.Final() || c.State == jobs.Waiting) && c.State != jobs.Failed {
		fmt.Fprintf(&b, " — %s", c.Reason)
	}
	for _, n := range c.Notes {
		b.WriteString("\n  " + n)
	}
	return b.String()
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
	if j.Reason != "" && j.State != jobs.Failed {
		fmt.Fprintf(&b, ": %s", j.Reason)
	}
	if j.State == jobs.Failed && j.Step > 0 && j.Step <= len(j.Plan.Steps) {
		fmt.Fprintf(&b, ": step %d (%s) failed", j.Step, jobs.ChatEscape(j.Plan.Steps[j.Step-1].Name))
	}
	return b.String()
}
