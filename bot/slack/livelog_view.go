package slack

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	goslack "github.com/slack-go/slack"
)

// liveLogView is what the live-log message shows.
type liveLogView struct {
	Job   int64
	Lines []string // the newest lines, oldest first
	Total int64    // lines the job has printed so far
	Ended bool
	Steps []string // where each step stands, in step order
}

// text is the message's plain fallback text.
func (v liveLogView) text() string {
	if v.Ended {
		return fmt.Sprintf("Log of #%d: %d lines", v.Job, v.Total)
	}
	return fmt.Sprintf("Live log of #%d: %d lines so far", v.Job, v.Total)
}

// blocks renders where the steps stand and the newest lines that fit in
// one section, as a code block.
func (v liveLogView) blocks() []goslack.Block {
	code, shown := fitCode(v.Lines, maxSectionText)
	head := fmt.Sprintf("*Live log* of #%d · last %d of %d lines · updated every few seconds", v.Job, shown, v.Total)
	if v.Ended {
		head = fmt.Sprintf("*Log* of #%d · last %d of %d lines · the job has ended", v.Job, shown, v.Total)
	}
	blocks := []goslack.Block{goslack.NewContextBlock("head", mrkdwn(head))}
	if len(v.Steps) > 0 {
		blocks = append(blocks, goslack.NewContextBlock("steps", mrkdwn(clip(strings.Join(v.Steps, "  ·  "), maxSectionText))))
	}
	return append(blocks, goslack.NewSectionBlock(mrkdwn(code), nil, nil, goslack.SectionBlockOptionBlockID("log")))
}

// stepMark matches the lines the worker writes into a job's log where a
// step starts and ends (jobs.Execution.StepStarted and StepEnded):
//
//	── step 2/3: go test ./...
//	── step 2/3 succeeded in 1.2s: go test ./...
//	── step 2/3 failed with exit code 1 in 300ms: go test ./...
var stepMark = regexp.MustCompile(`^── step (\d+)/(\d+)(?:: (.*)| (succeeded|failed with exit code (\d+)) in (\S+): (.*))$`)

// maxStepsShown is how many steps the live log lists, the newest.
const maxStepsShown = 12

// stepMarks is where each step stands, as the live log has seen it.
type stepMarks map[int]string

// see notes a step's start or end when line marks one.
func (s *stepMarks) see(line []byte) {
	if !bytes.HasPrefix(line, []byte("── step ")) {
		return
	}
	m := stepMark.FindSubmatch(line)
	if m == nil {
		return
	}
	if *s == nil {
		*s = stepMarks{}
	}
	i, _ := strconv.Atoi(string(m[1]))
	name := func(b []byte) string {
		return "`" + clip(escapeText(strings.ReplaceAll(string(b), "`", "'")), 60) + "`"
	}
	switch {
	case m[3] != nil:
		(*s)[i] = fmt.Sprintf("▶ %s/%s %s", m[1], m[2], name(m[3]))
	case m[5] != nil:
		(*s)[i] = fmt.Sprintf("✗ %s/%s %s exit %s, %s", m[1], m[2], name(m[7]), m[5], m[6])
	default:
		(*s)[i] = fmt.Sprintf("✓ %s/%s %s %s", m[1], m[2], name(m[7]), m[6])
	}
}

// list is the steps in order, the newest maxStepsShown of them.
func (s stepMarks) list() []string {
	if len(s) == 0 {
		return nil
	}
	keys := make([]int, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	if len(keys) > maxStepsShown {
		keys = keys[len(keys)-maxStepsShown:]
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = s[k]
	}
	return out
}
