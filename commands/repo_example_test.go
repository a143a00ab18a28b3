package commands_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// `deploy staging` where no repo is bound suggests a deploy, of a repo
// whose .gantry.yml has a stage for staging, not a build.
func TestDeployWithoutARepoSuggestsADeployOfARepoWithThatStage(t *testing.T) {
	api := gitRepo(t, "pipelines:\n  branch: {steps: [echo build]}\n  nightly: {steps: [echo soak]}\n")
	app := gitRepo(t, "pipelines:\n  branch: {steps: [echo build]}\ndeploy:\n  staging: {steps: [echo staging]}\n")
	cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf(`repos:
  api: {path: %s}
  app: {path: %s}
environments:
  staging: {deployers: ["*"]}
  qa: {deployers: ["*"]}
`, api, app)))
	if err != nil {
		t.Fatal(err)
	}
	store := jobs.NewStore(redistest.Start(t).RDB(), jobs.StoreConfig{})
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil)})
	for text, want := range map[string]string{
		"deploy staging": "no repo is bound to this channel; name one, e.g. `deploy app staging`",
		"deploy to qa":   "no repo is bound to this channel; name one, e.g. `deploy api qa`", // no repo has it: the first
		"build":          "no repo is bound to this channel; name one, e.g. `build api`",
		"run nightly":    "no repo is bound to this channel; name one, e.g. `run nightly api`",
		"run release":    "no repo is bound to this channel; name one, e.g. `run release api`",
		"deploy stagin":  `environment "stagin" is not defined in gantry.yml (did you mean "staging"? environments: qa, staging)`,
	} {
		rep := svc.Handle(context.Background(), &commands.Request{User: "U01", Channel: "C0NOREPO", Text: text})
		if got := rep.Text.Slack(); got != want {
			t.Errorf("%q:\n got %q\nwant %q", text, got, want)
		}
	}
	// In the console, with no repos configured, a local example is named
	// only if it has the stage.
	console := commands.NewService(commands.Deps{Config: spec.DefaultServer(), Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(spec.DefaultServer(), nil)})
	for text, want := range map[string]string{
		"deploy staging": "which repo? name one, e.g. `deploy REPO staging` (a configured repo or a local path)",
		"build":          "which repo? name one, e.g. `build REPO` (a configured repo or a local path)",
	} {
		rep := console.Handle(context.Background(), &commands.Request{User: "alice", Channel: "console", Console: true, Text: text})
		if got := rep.Text.Slack(); got != want {
			t.Errorf("console %q:\n got %q\nwant %q", text, got, want)
		}
	}
}
