package commands_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/reports"
	"github.com/gantry-ci/gantry/spec"
)

func TestSummaryNamesTestResults(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	fails := []reports.Failure{}
	for _, n := range []string{"a.TestOne", "a.TestTwo", "b.Test_three", "c.T4", "c.T5", "c.T6"} {
		fails = append(fails, reports.Failure{Name: n})
	}
	j := &jobs.Job{ID: 7, State: jobs.Failed, Step: 1, HasExit: true, ExitCode: 1, Started: start, Finished: start.Add(3 * time.Second),
		Plan:    spec.Plan{Steps: []spec.Step{{Name: "go test ./..."}}},
		Results: &artifacts.Results{Tests: &reports.Summary{Passed: 412, Failed: 7, Skipped: 2, Files: 3, Failures: fails}}}
	got := commands.Summary(j, start).String()
	want := ":x: #7 failed in 3s (exit code 1): step 1 (go test ./...) failed; tests: 412 passed, 7 failed, 2 skipped (failing: a.TestOne, a.TestTwo, b.Test_three, c.T4, c.T5 and 2 more)"
	if got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	if s := commands.Tests(j).Slack(); s != "tests: 412 passed, 7 failed, 2 skipped (failing: a.TestOne, a.TestTwo, b.Test_three, c.T4, c.T5 and 2 more)" {
		t.Errorf("Slack: %s", s)
	}
	j.State = jobs.Running
	if commands.Tests(j) != "" {
		t.Error("a running job shows test results")
	}
}
