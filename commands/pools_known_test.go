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

// A .gantry.yml that leases from a pool the server does not define is
// refused when asked for, naming the file and line, the pool and the
// pools there are, instead of queueing a job that could only fail on
// every retry (or, with no pools at all, run with an empty
// GANTRY_RESOURCE_REDIS).
func TestUnknownPoolIsAUserErrorWhenAskedFor(t *testing.T) {
	dir := gitRepo(t, "resources: [redis]\npipelines:\n  branch: {steps: [echo hi]}\ndeploy:\n  staging: {steps: [echo hi]}\n")
	for _, tt := range []struct{ pools, want string }{
		{"", `app/.gantry.yml:1: resources: pool "redis" is not defined in gantry.yml, which defines no pools`},
		{"pools: {mysql: [mysql-1], pg: [pg-1]}\n", `app/.gantry.yml:1: resources: pool "redis" is not defined in gantry.yml (pools: mysql, pg)`},
		{"pools: {redis7: [r-1], pg: [pg-1]}\n", `app/.gantry.yml:1: resources: pool "redis" is not defined in gantry.yml (did you mean "redis7"? pools: pg, redis7)`},
	} {
		cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf("repos:\n  app: {path: %s, channel: C0APPS}\nenvironments:\n  staging: {deployers: [\"*\"]}\n%s", dir, tt.pools)))
		if err != nil {
			t.Fatal(err)
		}
		store := jobs.NewStore(redistest.Start(t).RDB(), jobs.StoreConfig{})
		svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil)})
		for _, text := range []string{"build app", "deploy app staging"} {
			rep := svc.Handle(context.Background(), &commands.Request{User: "U01", Channel: "C0APPS", Text: text})
			if got := rep.Text.Slack(); rep.Job != 0 || got != "nothing was queued: "+tt.want {
				t.Errorf("%q with %q:\n got %q\nwant %q", text, tt.pools, got, "nothing was queued: "+tt.want)
			}
		}
		if active, _ := store.Active(context.Background()); len(active) != 0 {
			t.Errorf("%d jobs were queued", len(active))
		}
	}
}

// A deploy to an environment the server config does not define is refused
// with the environments it does, and the nearest of them.
func TestUnknownEnvironmentIsAUserErrorWhenAskedFor(t *testing.T) {
	f := newTrustFixture(t, openProduction+"\n  staging: {deployers: [\"*\"]}", nil)
	for text, want := range map[string]string{
		"deploy app qa":      `environment "qa" is not defined in gantry.yml (environments: production, staging)`,
		"deploy app stagign": `environment "stagign" is not defined in gantry.yml (did you mean "staging"? environments: production, staging)`,
	} {
		if rep := f.say("U01", "C0APPS", text); rep.Job != 0 || rep.Text.Slack() != want {
			t.Errorf("%q:\n got %q\nwant %q", text, rep.Text.Slack(), want)
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

// A push whose .gantry.yml needs a pool the server config does not define
// queues nothing: the commit gets an error status saying which, and where.
func TestWebhookOfUnknownPoolSetsAnErrorStatus(t *testing.T) {
	f := newHookFixture(t, scm.GitHubConfig{})
	sha := f.srv.AddCommit("acme/hello", "feature", map[string]string{".gantry.yml": "pipelines:\n  branch:\n    resources: [mysql]\n    steps: [make]\n"})
	f.handle(t, push("feature", sha))
	f.flush(t)
	if a := f.active(t); len(a) != 0 {
		t.Errorf("%d jobs queued", len(a))
	}
	st := f.srv.Statuses("acme/hello", sha)
	want := `not built: hello/.gantry.yml:3: resources in pipeline "branch": pool "mysql" is not defined in gantry.yml, which defines no pools`
	if len(st) != 1 || st[0].State != "error" || st[0].Description != want {
		t.Errorf("statuses = %+v\nwant one error: %s", st, want)
	}
}

// A retry of a job whose .gantry.yml leases from a pool gantry.yml no
// longer defines is refused when asked for, like the job itself would be.
func TestRetryOfAJobOfAnUnknownPoolIsRefused(t *testing.T) {
	dir := gitRepo(t, "pipelines:\n  branch: {steps: [echo hi]}\n")
	cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf("repos:\n  app: {path: %s, channel: C0APPS}\npools: {pg: [pg-1]}\n", dir)))
	if err != nil {
		t.Fatal(err)
	}
	store := jobs.NewStore(redistest.Start(t).RDB(), jobs.StoreConfig{})
	svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil)})
	ctx := context.Background()
	// Queued while gantry.yml defined pool redis.
	j := &jobs.Job{Kind: jobs.Build, Repo: "app", Source: jobs.SourceDir, Path: dir, Requester: "U01", Origin: "chat", Channel: "C0APPS",
		Plan: spec.Plan{Name: "branch", Resources: []string{"redis"}, Steps: []spec.Step{{Name: "echo hi", Run: "echo hi"}}}}
	if err := store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	if rep := svc.Handle(ctx, &commands.Request{User: "U01", Channel: "C0APPS", Text: "cancel #1"}); rep.Job != 1 {
		t.Fatalf("cancel: %q", rep.Text.Slack())
	}
	rep := svc.Handle(ctx, &commands.Request{User: "U01", Channel: "C0APPS", Text: "retry #1"})
	want := `nothing was queued: pool "redis" is not defined in gantry.yml (pools: pg), and #1's .gantry.yml leases from it`
	if rep.Job != 0 || rep.Text.Slack() != want {
		t.Errorf("retry:\n got %q\nwant %q", rep.Text.Slack(), want)
	}
}
