package commands_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// A .gantry.yml that leases from a pool the server does not have is
// refused when asked for, saying so once, instead of queueing a job that
// can only fail on every retry.
func TestUnknownPoolIsRefusedAtOnce(t *testing.T) {
	dir := gitRepo(t, "resources: [redis]\npipelines:\n  branch: {steps: [echo hi]}\ndeploy:\n  staging: {steps: [echo hi]}\n")
	for _, pools := range []string{"", "pools: {mysql: [mysql-1]}\n"} {
		cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf("repos:\n  app: {path: %s, channel: C0APPS}\nenvironments:\n  staging: {deployers: [\"*\"]}\n%s", dir, pools)))
		if err != nil {
			t.Fatal(err)
		}
		store := jobs.NewStore(redistest.Start(t).RDB(), jobs.StoreConfig{})
		svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil)})
		for _, text := range []string{"build app", "deploy app staging"} {
			rep := svc.Handle(context.Background(), &commands.Request{User: "U01", Channel: "C0APPS", Text: text})
			if rep.Job != 0 || !strings.Contains(rep.Text.Slack(), `pool "redis", which this gantry server does not have`) {
				t.Errorf("%q with pools %q: %q", text, pools, rep.Text.Slack())
			}
		}
		if active, _ := store.Active(context.Background()); len(active) != 0 {
			t.Errorf("%d jobs were queued", len(active))
		}
	}
}

// A message about a stage the file lacks names the file once.
func TestMissingStageNamesTheFileOnce(t *testing.T) {
	f := newTrustFixture(t, openProduction+"\n  qa: {deployers: [\"*\"]}", nil)
	rep := f.say("U01", "C0APPS", "deploy app qa")
	if strings.Count(rep.Text.Slack(), ".gantry.yml") != 1 {
		t.Errorf("reply names the file other than once: %q", rep.Text.Slack())
	}
}
