package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/rdb"
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
