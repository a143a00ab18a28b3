package slack

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"

	"github.com/gantry-ci/gantry/commands"

	"github.com/gantry-ci/gantry/say"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares v, as indented JSON, with testdata/name.golden.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bot/slack -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

type rendered struct {
	Text   string          `json:"text"`
	Blocks []goslack.Block `json:"blocks"`
}

func sampleJob(state jobs.State) *jobs.Job {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	j := &jobs.Job{
		ID: 42, Kind: jobs.Build, Repo: "hello", Ref: "main", SHA: "0123456789abcdef", Requester: "U0ALICE",
		State: state, Channel: "C0BUILDS", Created: start,
		Plan: spec.Plan{Steps: []spec.Step{{Name: "go vet ./..."}, {Name: "go test ./..."}, {Name: "make <release>"}}},
	}
	switch state {
	case jobs.Running:
		j.Started, j.Step = start, 2
	case jobs.Succeeded, jobs.Failed, jobs.Cancelled:
		j.Started, j.Finished, j.Step = start, start.Add(83*time.Second), 3
	}
	return j
}

func TestJobMessageGolden(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 12, 0, time.UTC)
	failed := sampleJob(jobs.Failed)
	failed.ExitCode, failed.HasExit = 2, true
	cancelled := sampleJob(jobs.Cancelled)
	cancelled.Reason = "cancelled by " + say.PersonOf("U0BOB")
	deploy := sampleJob(jobs.AwaitingApproval)
	deploy.Kind, deploy.Env = jobs.Deploy, "production"
	github := sampleJob(jobs.Queued)
	github.Requester = ""
	for name, tc := range map[string]struct {
		j    *jobs.Job
		link string
	}{
		"job_queued":            {sampleJob(jobs.Queued), ""},
		"job_running":           {sampleJob(jobs.Running), "https://gantry.example/jobs/42?sig=abc"},
		"job_awaiting_approval": {deploy, ""},
		"job_succeeded":         {sampleJob(jobs.Succeeded), ""},
		"job_failed":            {failed, ""},
		"job_cancelled":         {cancelled, ""},
		"job_github":            {github, ""},
	} {
		t.Run(name, func(t *testing.T) {
			m := bot.JobMessage(tc.j, now, tc.link)
			blocks := Blocks(m)
			checkLimits(t, blocks)
			golden(t, name, rendered{Text: m.Text.Slack(), Blocks: blocks})
		})
	}
}

func TestThreadMessagesGolden(t *testing.T) {
	step := bot.Message{Text: "step 2/3 started: go test ./...", Step: true}
	golden(t, "step", rendered{Text: step.Text.Slack(), Blocks: Blocks(step)})
	withButtons := bot.Message{Text: "#7 asks to deploy to *production*", Buttons: []bot.Button{
		{Label: "Approve", Action: "approve", Job: 7, Style: "primary"}, {Label: "Reject", Action: "reject", Job: 7, Style: "danger"}}}
	golden(t, "text_buttons", rendered{Text: withButtons.Text.Slack(), Blocks: Blocks(withButtons)})
	if b := Blocks(bot.Message{Text: "plain"}); b != nil {
		t.Errorf("a plain message has blocks: %+v", b)
	}
}

func TestNoticeGolden(t *testing.T) {
	failed := sampleJob(jobs.Failed)
	failed.ExitCode, failed.HasExit = 2, true
	m := bot.Message{Text: commands.Summary(failed, time.Now()), Mention: "U0ALICE", Weight: bot.WeightNotice,
		Log:     []string{"--- FAIL: TestRelease (0.01s)", "    release_test.go:12: want <v1.2>, got <v1.1>", "FAIL"},
		Buttons: []bot.Button{{Label: "Retry", Action: "retry", Job: 42, Style: "primary"}, {Label: "Logs", Action: "logs", Job: 42}}}
	text, blocks := content(m)
	checkLimits(t, blocks)
	golden(t, "notice_failed", rendered{Text: text, Blocks: blocks})
	ok := bot.Message{Text: commands.Summary(sampleJob(jobs.Succeeded), time.Now()), Mention: "U0ALICE", Weight: bot.WeightNotice}
	text, blocks = content(ok)
	golden(t, "notice_succeeded", rendered{Text: text, Blocks: blocks})
}

// A job that waited for a pool member keeps the wait reason in its record;
// once it has moved on, neither its message nor its summary shows it.
func TestFinishedJobShowsNoWaitReasonOrStaleStep(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 12, 0, time.UTC)
	for _, st := range []jobs.State{jobs.Running, jobs.Succeeded, jobs.Failed} {
		j := sampleJob(st)
		j.Reason = "waiting for db (1st in line)"
		if st == jobs.Failed {
			j.Reason = "step 3 exited with code 2"
		}
		m := bot.JobMessage(j, now, "")
		raw, _ := json.Marshal(Blocks(m))
		for _, text := range []string{m.Text.Slack(), string(raw), commands.Summary(j, now).Slack()} {
			if strings.Contains(text, "waiting") || strings.Contains(text, "exited with code") {
				t.Errorf("%s job shows its old reason: %s", st, text)
			}
			if st == jobs.Succeeded && strings.Contains(text, "step") {
				t.Errorf("a finished job shows a step: %s", text)
			}
		}
	}
	waiting := sampleJob(jobs.Waiting)
	waiting.Reason = "waiting for db (1st in line)"
	if m := bot.JobMessage(waiting, now, ""); !strings.Contains(m.Text.Slack(), "waiting for db (1st in line)") {
		t.Errorf("a waiting job does not say why: %s", m.Text.Slack())
	}
}

func TestLiveLogGolden(t *testing.T) {
	v := liveLogView{Job: 42, Total: 3, Lines: []string{"compiling <pkg> & friends", "ok  ```fenced```", "PASS"}}
	golden(t, "livelog_running", rendered{Text: v.text(), Blocks: v.blocks()})
	var marks stepMarks
	for _, ln := range []string{"── step 1/3: go vet ./...", "── step 1/3 succeeded in 1.2s: go vet ./...", "── step 2/3: make <all>", "── step 2/3 failed with exit code 2 in 300ms: make <all>"} {
		marks.see([]byte(ln))
	}
	v.Steps = marks.list()
	golden(t, "livelog_steps", rendered{Text: v.text(), Blocks: v.blocks()})
	v.Steps = nil
	v.Ended = true
	golden(t, "livelog_ended", rendered{Text: v.text(), Blocks: v.blocks()})
	empty := liveLogView{Job: 43}
	golden(t, "livelog_empty", rendered{Text: empty.text(), Blocks: empty.blocks()})
}

func TestLiveLogKeepsNewestLinesWithinSectionLimit(t *testing.T) {
	var lines []string
	for i := 1; i <= 5000; i++ {
		lines = append(lines, fmt.Sprintf("line %d %s", i, strings.Repeat("x<", i%150)))
	}
	v := liveLogView{Job: 1, Lines: lines, Total: 5000}
	blocks := v.blocks()
	checkLimits(t, blocks)
	code := blocks[1].(*goslack.SectionBlock).Text.Text
	if n := utf8.RuneCountInString(code); n > maxSectionText || n < maxSectionText-maxLogLine*5 {
		t.Errorf("code block is %d characters; want close to but within %d", n, maxSectionText)
	}
	if !strings.HasSuffix(code, "line 5000 "+strings.Repeat("x&lt;", 5000%150)+"\n```") {
		t.Errorf("the newest line is not last:\n…%s", code[len(code)-200:])
	}
	if strings.Contains(code, "<") {
		t.Error("a < in the log was not escaped")
	}
}

// checkLimits applies Slack's block limits that gantry must keep.
func checkLimits(t *testing.T, blocks []goslack.Block) {
	t.Helper()
	if len(blocks) > maxBlocks {
		t.Errorf("%d blocks", len(blocks))
	}
	raw, _ := json.Marshal(blocks)
	if n := utf8.RuneCount(raw); n > 13000 {
		t.Errorf("blocks are %d characters", n)
	}
	for _, b := range blocks {
		if s, ok := b.(*goslack.SectionBlock); ok && utf8.RuneCountInString(s.Text.Text) > maxSectionText {
			t.Errorf("section text of %d characters", utf8.RuneCountInString(s.Text.Text))
		}
	}
}
