package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// scheduledProcess is one gantry process's command service and scheduler;
// several of them share one Redis and one test clock.
type scheduledProcess struct {
	svc   *commands.Service
	sched *commands.Scheduler
}

func newScheduledProcesses(t *testing.T, n int) (*deployFixture, []scheduledProcess) {
	t.Helper()
	f := newDeployFixture(t)
	dir := f.cfg.Repos["app"].Path
	if err := os.WriteFile(filepath.Join(dir, ".gantry.yml"), []byte(nightlySpec), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.ParseServer("gantry.yml", []byte(fmt.Sprintf(`
repos:
  app: {path: %s, channel: C0APPS}
environments:
  staging: {deployers: [U01]}
schedules:
  soak: {cron: "* * * * *", time_zone: Europe/Berlin, repo: app, pipeline: nightly}
`, dir)))
	if err != nil {
		t.Fatal(err)
	}
	var ps []scheduledProcess
	for range n {
		store := jobs.NewStore(f.rdb.RDB(), jobs.StoreConfig{Now: f.clock.Now})
		svc := commands.NewService(commands.Deps{Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil)})
		sched := svc.Scheduler(rdb.NewSchedules(f.rdb.RDB(), ""), commands.SchedulerConfig{})
		ps = append(ps, scheduledProcess{svc: svc, sched: sched})
	}
	return f, ps
}

// tickAll runs one pass of every process's scheduler, all at once.
func tickAll(t *testing.T, ps []scheduledProcess) {
	t.Helper()
	errs := make(chan error, len(ps))
	for _, p := range ps {
		go func() { errs <- p.sched.Tick(context.Background()) }()
	}
	for range ps {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func recentJobs(t *testing.T, f *deployFixture) []*jobs.Job {
	t.Helper()
	js, err := f.store.Recent(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestScheduleTicksOnceAcrossProcessesAndOnceAfterDowntime: a schedule
// every minute, looked at by two processes at once, starts one job per
// tick; three ticks missed while nothing ran start one job, not three; a
// tick whose previous run is still going starts nothing and says so.
func TestScheduleTicksOnceAcrossProcessesAndOnceAfterDowntime(t *testing.T) {
	f, ps := newScheduledProcesses(t, 2)

	tickAll(t, ps) // first sight: counting starts now, nothing runs
	if js := recentJobs(t, f); len(js) != 0 {
		t.Fatalf("%d jobs before the first tick", len(js))
	}

	f.clock.Add(time.Minute)
	for range 3 { // looking again within the same minute changes nothing
		tickAll(t, ps)
	}
	js := recentJobs(t, f)
	if len(js) != 1 {
		t.Fatalf("%d jobs after one tick seen by two processes; want 1", len(js))
	}
	first := js[0]
	if first.Plan.Name != "nightly" || first.Origin != "schedule" || first.Channel != "C0APPS" || first.Requester != "" {
		t.Errorf("scheduled job = plan %q origin %q channel %q requester %q", first.Plan.Name, first.Origin, first.Channel, first.Requester)
	}

	// Its job has not run (no worker yet): the next tick is skipped.
	f.clock.Add(time.Minute)
	tickAll(t, ps)
	if js := recentJobs(t, f); len(js) != 1 {
		t.Fatalf("%d jobs after a tick while the previous run is queued; want 1", len(js))
	}
	r := ps[1].svc.Handle(context.Background(), &commands.Request{User: "U05", Channel: "C0APPS", Text: "schedules"})
	expectReply(t, r, "soak: run nightly app")
	expectReply(t, r, fmt.Sprintf("skipped the tick of 2026-11-23 14:02 UTC: %s is still queued", first.Name()))

	f.worker(t)
	waitJob(t, f, first.ID, jobs.Succeeded)

	f.clock.Add(3 * time.Minute) // downtime: three ticks pass unseen
	tickAll(t, ps)
	tickAll(t, ps)
	js = recentJobs(t, f)
	if len(js) != 2 {
		t.Fatalf("%d jobs after three missed ticks; want 2 (one for the missed ticks)", len(js))
	}
	st, err := rdb.NewSchedules(f.rdb.RDB(), "").State(context.Background(), "soak")
	if err != nil {
		t.Fatal(err)
	}
	if want := f.clock.Now().Truncate(time.Minute); !st.Tick.Equal(want) || st.Job != js[0].ID {
		t.Errorf("after the downtime the schedule took tick %s for job #%d; want the latest, %s, for #%d", st.Tick.UTC(), st.Job, want, js[0].ID)
	}
	waitJob(t, f, js[0].ID, jobs.Succeeded)
	r = ps[0].svc.Handle(context.Background(), &commands.Request{User: "U05", Channel: "C0APPS", Text: "schedules"})
	expectReply(t, r, "next 2026-11-23 14:06 UTC; last: "+js[0].Name()+" succeeded")
	if strings.Contains(r.Text.String(), "skipped") {
		t.Errorf("schedules still says skipped after a run: %q", r.Text.String())
	}
}

// TestScheduleOfTheRepoFileRuns: a schedule in the default branch's
// .gantry.yml runs its pipeline in the repo's channel, and is listed.
func TestScheduleOfTheRepoFileRuns(t *testing.T) {
	f := newDeployFixture(t)
	spec := nightlySpec + "schedules:\n  soak: {cron: \"*/2 * * * *\", pipeline: nightly}\n"
	if err := os.WriteFile(filepath.Join(f.cfg.Repos["app"].Path, ".gantry.yml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	svc := commands.NewService(commands.Deps{Config: f.cfg, Store: f.store, Log: f.log, Sources: scm.NewResolver(f.cfg, nil)})
	sched := svc.Scheduler(rdb.NewSchedules(f.rdb.RDB(), ""), commands.SchedulerConfig{})
	ctx := context.Background()
	if err := sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(2 * time.Minute)
	if err := sched.Tick(ctx); err != nil {
		t.Fatal(err)
	}
	js := recentJobs(t, f)
	if len(js) != 1 || js[0].Plan.Name != "nightly" || js[0].Channel != "C0APPS" || js[0].Origin != "schedule" {
		t.Fatalf("jobs after a tick of the file's schedule: %+v", js)
	}
	r := svc.Handle(ctx, &commands.Request{User: "U05", Channel: "C0APPS", Text: "schedules"})
	expectReply(t, r, "app/soak: run nightly app")
}
