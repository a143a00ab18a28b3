package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/jobs"
)

const nightlySpec = `
pipelines:
  branch:
    steps: [echo "branch build"]
  nightly:
    steps: [echo "nightly soak of $GANTRY_REPO"]
deploy:
  staging:
    steps: [echo "deploying to staging"]
`

// TestRunStartsANamedPipeline: "run nightly" runs the nightly pipeline's
// steps, not the branch pipeline's, and the job says which pipeline it is;
// a pipeline the file does not define is refused naming those it does, and
// nothing is queued.
func TestRunStartsANamedPipeline(t *testing.T) {
	f := newDeployFixture(t)
	if err := os.WriteFile(filepath.Join(f.cfg.Repos["app"].Path, ".gantry.yml"), []byte(nightlySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	f.worker(t)

	r := f.say("U07", "run nightly")
	expectReply(t, r, "run nightly app")
	if r.Job == 0 {
		t.Fatalf("run nightly queued nothing: %q", r.Text.Slack())
	}
	j := waitJob(t, f, r.Job, jobs.Succeeded)
	if j.Plan.Name != "nightly" || j.What() != "run nightly" {
		t.Errorf("job plan %q, what %q; want the nightly pipeline", j.Plan.Name, j.What())
	}
	var out strings.Builder
	if _, err := f.log.WriteTo(context.Background(), j.ID, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "nightly soak of app") || strings.Contains(out.String(), "branch build") {
		t.Errorf("log of run nightly:\n%s\nwant the nightly step only", out.String())
	}

	r = f.say("U07", "run nigthly")
	expectReply(t, r, `did you mean "nightly"`)
	if r.Job != 0 {
		t.Errorf("a pipeline the file lacks queued job #%d", r.Job)
	}
	recent, err := f.store.Recent(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 1 {
		t.Errorf("%d jobs after one run and one refused run; want 1", len(recent))
	}
}
