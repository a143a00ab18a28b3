package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// TestReloadedConfigSchedulesApplyAtNextTick: the scheduler reads the
// server config in use at each tick: a schedule a reload adds runs, and
// the repo file's schedules follow the repo to the channel the reload
// gave it, without waiting for the file refresh.
func TestReloadedConfigSchedulesApplyAtNextTick(t *testing.T) {
	f := newDeployFixture(t)
	dir := f.cfg.Repos["app"].Path
	file := nightlySpec + "schedules:\n  soak: {cron: \"*/2 * * * *\", pipeline: nightly}\n"
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(extra string) *spec.Server {
		t.Helper()
		cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf("repos:\n  app: {path: %s, channel: %s}\n", dir, extra)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	live := new(atomic.Pointer[spec.Server])
	live.Store(parse("C0APPS"))
	svc := commands.NewService(commands.Deps{Live: live, Store: f.store, Log: f.log, Sources: scm.NewLiveResolver(live, nil)})
	sched := svc.Scheduler(rdb.NewSchedules(f.rdb.RDB(), ""), commands.SchedulerConfig{})
	ctx := context.Background()
	if err := sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	live.Store(parse("C0MOVED}\nschedules:\n  hourly: {cron: \"*/2 * * * *\", repo: app, pipeline: nightly"))
	if err := sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Minute)
	if err := sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, j := range recentJobs(t, f) {
		got = append(got, j.Channel)
	}
	if !slices.Equal(got, []string{"C0MOVED", "C0MOVED"}) {
		t.Errorf("the two schedules' jobs went to %v, want C0MOVED twice", got)
	}
}

// reloadingSources is a repo resolver during whose first read a reload
// swaps the server config: the moment a deploy is halfway through.
type reloadingSources struct {
	commands.Sources
	live *atomic.Pointer[spec.Server]
	next *spec.Server
	once sync.Once
}

func (r *reloadingSources) Resolve(ctx context.Context, repo, ref string, allowPaths bool) (*scm.Source, error) {
	r.once.Do(func() { r.live.Store(r.next) })
	return r.Sources.Resolve(ctx, repo, ref, allowPaths)
}

// TestAReloadDuringARequestDoesNotMixConfigs: a deploy reads the repo's
// .gantry.yml between its permission check and the naming of its
// approvers. A reload that lands there must not make a deploy the new
// config forbids (U01 is no longer a deployer) approvable by people the
// old config never named (the new admins): the whole request acts on the
// config it started with.
func TestAReloadDuringARequestDoesNotMixConfigs(t *testing.T) {
	f := newDeployFixture(t)
	dir := f.cfg.Repos["app"].Path
	stage := "deploy:\n  production:\n    approval: true\n    steps: [echo deploying]\n"
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(stage), 0o644); err != nil {
		t.Fatal(err)
	}
	parse := func(deployer, admin string) *spec.Server {
		t.Helper()
		cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf(
			"repos:\n  app: {path: %s, channel: C0APPS}\npools:\n  mysql: [mysql-1]\nadmins: [%s]\n"+
				"environments:\n  production: {deployers: [%s]}\n", dir, admin, deployer)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	live := new(atomic.Pointer[spec.Server])
	live.Store(parse("U01", "U09"))
	src := &reloadingSources{Sources: scm.NewLiveResolver(live, nil), live: live, next: parse("U02", "U08")}
	svc := commands.NewService(commands.Deps{Live: live, Store: f.store, Log: f.log, Sources: src, Pools: f.pools})
	rep := svc.Handle(context.Background(), &commands.Request{User: "U01", Channel: "C0APPS", Text: "deploy production"})
	j := f.job(t, 1)
	if j.State != jobs.AwaitingApproval || !slices.Equal(j.Approvers, []string{"U09"}) {
		t.Errorf("deploy #1 is %s with approvers %v, want awaiting approval by U09 (the config the request began with); reply: %s", j.State, j.Approvers, rep.Text)
	}
	if live.Load().Admins[0] != "U08" {
		t.Fatal("the reload did not happen during the request")
	}
}
