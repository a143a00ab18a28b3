package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
)

// Message is something gantry says, before a front end renders it: Slack
// builds Block Kit from it, the console prints its Text.
type Message struct {
	Text    say.Text
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
	Title    say.Text // "build hello@main"
	SHA      string   // short SHA
	Who      say.Text // the requester, or "GitHub"
	State    jobs.State
	Emoji    string
	Step     int
	Steps    int
	Elapsed  time.Duration
	Reason   say.Text
	ExitCode *int
	Link     string // the job page
	// Notes are what an approver must know: the policy that asks for the
	// approval, an earlier rejection of the same change.
	Notes []say.Text
}

// Button is an action on a job. Action is the verb it performs.
type Button struct {
	Label  string // Approve, Reject, Cancel, Retry, Logs
	Action commands.Verb
	Job    int64
	Style  string // "primary", "danger" or ""
}

// JobMessage renders the job message for j.
func JobMessage(j *jobs.Job, now time.Time, link string) Message {
	who := say.Text("GitHub")
	if j.Requester != "" {
		who = commands.Mention(j.Requester)
	}
	c := &Card{
		Job: j.ID, Title: say.F("%s %s", j.What(), j.Target()), SHA: j.ShortSHA(), Who: who, State: j.State,
		Emoji: commands.StateEmoji(j.State), Step: j.Step, Steps: len(j.Plan.Steps), Elapsed: j.Duration(now),
		Reason: commands.Reason(j), Link: link,
	}
	if j.HasExit {
		code := j.ExitCode
		c.ExitCode = &code
	}
	switch {
	case j.State == jobs.AwaitingApproval:
		for _, n := range []say.Text{j.Rejection, j.Policy} {
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
func CardText(c *Card) say.Text {
	var b say.Builder
	b.F("#%d %s", c.Job, c.Title)
	if c.SHA != "" {
		b.F(" (%s)", c.SHA)
	}
	b.F(" by %s: %s", c.Who, c.State)
	if step := c.StepShown(); step != "" {
		b.F(" %s", step)
	}
	if c.Elapsed > 0 {
		b.F(", %s", commands.RoundDuration(c.Elapsed))
	}
	if c.ExitCode != nil && *c.ExitCode != 0 {
		b.F(", exit code %d", *c.ExitCode)
	}
	if c.Reason != "" {
		b.F(" — %s", c.Reason)
	}
	for _, n := range c.Notes {
		b.Add("\n  " + n)
	}
	return b.Text()
}

// StepShown is where a running job has got to ("at step 2 of 3"), or the
// step a failed job failed in ("in step 2 of 3"); "" in any other state, so
// that no step shows stale.
func (c *Card) StepShown() string {
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

func capitalize(s say.Text) say.Text {
	if s == "" {
		return s
	}
	return say.Text(strings.ToUpper(string(s[:1]))) + s[1:]
}

// Notices says the command service's notices (a lock's reminder, its end)
// on a surface, as a message of its own for the person they are about.
type Notices struct{ Surface Surface }

// Notice posts text in channel (in the thread of threadTS when set),
// mentioning mention first.
func (n Notices) Notice(ctx context.Context, channel, threadTS, mention string, text say.Text) error {
	_, err := n.Surface.Post(ctx, channel, threadTS, Message{Text: text, Mention: mention, Weight: WeightNotice})
	return err
}
