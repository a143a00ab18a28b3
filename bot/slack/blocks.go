package slack

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/commands"
)

// Slack's limits on what one message may hold.
const (
	maxSectionText = 3000  // characters in a section's text
	maxBlocks      = 50    // blocks in a message
	maxLogLine     = 400   // characters of one log line shown live
	maxMessageText = 39000 // message text, below Slack's cut at 40,000
)

// escaper makes plain text safe in Slack's markup, where &, < and >
// start entities, mentions and links.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escapeText(s string) string { return escaper.Replace(s) }

func mrkdwn(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.MarkdownType, s, false, false)
}

func plain(s string) *goslack.TextBlockObject {
	return goslack.NewTextBlockObject(goslack.PlainTextType, s, true, false)
}

// clip cuts s to at most n characters, marking the cut with "…".
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// Blocks renders m as Block Kit. A job message is a card with its buttons; a
// step's start or end is a small grey line; other messages are their text,
// with the log lines they show and their buttons. Nil means the text alone
// shows m.
func Blocks(m bot.Message) []goslack.Block {
	switch {
	case m.Card != nil:
		return cardBlocks(m.Card, m.Buttons)
	case m.Step:
		return []goslack.Block{goslack.NewContextBlock("step", plain(clip(m.Text.String(), maxSectionText)))}
	case len(m.Buttons) > 0 || len(m.Log) > 0:
		text := m.Text
		if m.Mention != "" {
			text = commands.Mention(m.Mention) + " " + text
		}
		shown := text.Slack()
		if strings.TrimSpace(shown) == "" {
			shown = " "
		}
		blocks := []goslack.Block{goslack.NewSectionBlock(mrkdwn(clip(shown, maxSectionText)), nil, nil, goslack.SectionBlockOptionBlockID("text"))}
		if len(m.Log) > 0 {
			code, _ := fitCode(m.Log, maxSectionText)
			blocks = append(blocks, goslack.NewSectionBlock(mrkdwn(code), nil, nil, goslack.SectionBlockOptionBlockID("log")))
		}
		if len(m.Buttons) > 0 {
			blocks = append(blocks, actionsBlock(m.Buttons))
		}
		return blocks
	}
	return nil
}

// cardBlocks is the job message: what the job is, where it has got to, who
// asked, and the buttons that fit its state.
func cardBlocks(c *bot.Card, buttons []bot.Button) []goslack.Block {
	var b strings.Builder
	fmt.Fprintf(&b, "%s *#%d* %s", c.Emoji, c.Job, c.Title.Slack())
	if c.SHA != "" {
		fmt.Fprintf(&b, " `%s`", c.SHA)
	}
	status := []string{"*" + string(c.State) + "*"}
	if step := c.StepShown(); step != "" {
		status[0] += " " + step
	}
	if c.Elapsed > 0 {
		status = append(status, commands.RoundDuration(c.Elapsed).String())
	}
	if c.ExitCode != nil && *c.ExitCode != 0 {
		status = append(status, fmt.Sprintf("exit code %d", *c.ExitCode))
	}
	b.WriteString("\n" + strings.Join(status, " · "))
	if c.Reason != "" {
		// Reasons are gantry's own sentences and may mention people.
		b.WriteString("\n> " + strings.ReplaceAll(c.Reason.Slack(), "\n", "\n> "))
	}
	for _, n := range c.Notes {
		b.WriteString("\n_" + n.Slack() + "_")
	}
	who := "Requested by " + c.Who.Slack()
	if c.Who == "GitHub" {
		who = "Started by GitHub"
	}
	if c.Link != "" {
		who += fmt.Sprintf(" · <%s|Job page>", c.Link)
	}
	blocks := []goslack.Block{
		goslack.NewSectionBlock(mrkdwn(clip(b.String(), maxSectionText)), nil, nil, goslack.SectionBlockOptionBlockID("card")),
		goslack.NewContextBlock("who", mrkdwn(who)),
	}
	if len(buttons) > 0 {
		blocks = append(blocks, actionsBlock(buttons))
	}
	return blocks
}

// actionsBlock holds gantry's buttons: action_id is the verb, value the job.
func actionsBlock(buttons []bot.Button) *goslack.ActionBlock {
	els := make([]goslack.BlockElement, 0, len(buttons))
	for _, bt := range buttons {
		el := goslack.NewButtonBlockElement(string(bt.Action), strconv.FormatInt(bt.Job, 10), plain(bt.Label))
		if bt.Style != "" {
			el = el.WithStyle(goslack.Style(bt.Style))
		}
		switch bt.Label {
		case "Cancel":
			el = el.WithConfirm(confirm(fmt.Sprintf("Stop #%d?", bt.Job), "The job is cancelled; its steps are stopped.", "Stop it", "Keep running"))
		case "Reject":
			el = el.WithConfirm(confirm(fmt.Sprintf("Reject #%d?", bt.Job), "The deploy does not run.", "Reject", "Back"))
		}
		els = append(els, el)
	}
	return goslack.NewActionBlock("actions", els...)
}

func confirm(title, text, yes, no string) *goslack.ConfirmationBlockObject {
	return goslack.NewConfirmationBlockObject(plain(title), plain(text), plain(yes), plain(no))
}

// fitCode writes the newest lines as a code block of at most limit
// characters, and how many lines it holds.
func fitCode(lines []string, limit int) (string, int) {
	const fence = "```"
	budget := limit - 2*len(fence) - 2
	var picked []string
	for i := len(lines) - 1; i >= 0; i-- {
		ln := escapeText(strings.ReplaceAll(clip(lines[i], maxLogLine), fence, "`\u200b`\u200b`"))
		n := utf8.RuneCountInString(ln) + 1
		if n > budget {
			break
		}
		budget -= n
		picked = append(picked, ln)
	}
	if len(picked) == 0 {
		return fence + "\n(no output yet)\n" + fence, 0
	}
	for i, j := 0, len(picked)-1; i < j; i, j = i+1, j-1 {
		picked[i], picked[j] = picked[j], picked[i]
	}
	return fence + "\n" + strings.Join(picked, "\n") + "\n" + fence, len(picked)
}
