package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
)

// A step that leaves a descendant holding (or not) its output, in a new
// session or not, ends with the job's timeout at the latest, and nothing of
// it is left running.
func TestStepLeftoversEndWithTheJob(t *testing.T) {
	cases := []struct {
		name    string
		script  string // %A and %B are unique sleep arguments
		timeout bool   // the step itself outlives the timeout
	}{
		{"setsid holding the output", `setsid sleep %A &`, false},
		{"setsid detached from the output", `setsid sleep %A > /dev/null 2>&1 &`, false},
		{"nohup holding the output", `nohup sleep %A &`, false},
		{"setsid beside a step that runs on", `setsid sleep %A & sleep %B`, true},
		{"everything ignores SIGTERM", `trap '' TERM; setsid bash -c "trap '' TERM; sleep %A" & sleep %B`, true},
	}
	for _, c := range containments {
		t.Run(c.name, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					f := newFixture(t)
					a, b := uniqueSleep(t), uniqueSleep(t)
					script := strings.NewReplacer("%A", a, "%B", b).Replace(tc.script)
					j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan(script, "echo after")}
					j.Plan.Timeout = 5 * time.Second
					wd := workDir(t)
					r := local.New(local.Config{Grace: 2 * time.Second, WorkDir: wd, CgroupParent: c.cgroupParent})
					began := time.Now()
					code, err, log := f.run(t, r, j)
					took := time.Since(began)
					t.Logf("run took %s", took.Round(time.Millisecond))
					if err != nil {
						t.Fatalf("err %v\n%s", err, log)
					}
					if took > 15*time.Second {
						t.Errorf("the run took %s, want at most 15s", took)
					}
					noneLeft(t, 2*time.Second, a, b)
					if tc.timeout {
						if code != 124 {
							t.Errorf("exit code %d, want the timeout's", code)
						}
						if !strings.Contains(log, "timed out after 5s") {
							t.Errorf("log:\n%s", log)
						}
					} else if code != 0 || !strings.Contains(log, "after\n") {
						t.Errorf("code %d, log:\n%s", code, log)
					}
					if left, _ := os.ReadDir(wd); len(left) > 0 {
						t.Errorf("workspace left: %v", left)
					}
				})
			}
		})
	}
}

// Cancel ends the step and all it started, also what left its session.
func TestCancelEndsEveryProcessOfTheStep(t *testing.T) {
	for _, c := range containments {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			a, b, c2 := uniqueSleep(t), uniqueSleep(t), uniqueSleep(t)
			j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(),
				Plan: plan("setsid sleep " + a + " & nohup sleep " + b + " & sleep " + c2)}
			r := local.New(local.Config{Grace: 2 * time.Second, WorkDir: workDir(t), CgroupParent: c.cgroupParent})
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			f.create(t, j)
			ended := make(chan time.Time, 1)
			go func() {
				_, _ = f.exec(ctx, r, j)
				ended <- time.Now()
			}()
			waitUntil(t, 20*time.Second, "the step's sleeps run", func() bool {
				return len(running(a)) == 1 && len(running(b)) == 1 && len(running(c2)) == 1
			})
			cancelled := time.Now()
			cancel(&jobs.CancelError{By: "U7"})
			select {
			case at := <-ended:
				t.Logf("ended %s after the cancel", at.Sub(cancelled).Round(time.Millisecond))
			case <-time.After(15 * time.Second):
				t.Fatal("the run did not end within 15s of the cancel")
			}
			noneLeft(t, 2*time.Second, a, b, c2)
		})
	}
}

// A worker that lost its job's lease stops the step at once, without the
// grace period: another worker may start the job as soon as the lease
// lapses.
func TestLostLeaseKillsTheStepWithoutGrace(t *testing.T) {
	f := newFixture(t)
	a := uniqueSleep(t)
	j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(),
		Plan: plan("trap '' TERM; sleep " + a)}
	r := local.New(local.Config{Grace: time.Minute, WorkDir: workDir(t)})
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	f.create(t, j)
	ended := make(chan time.Time, 1)
	go func() {
		_, _ = f.exec(ctx, r, j)
		ended <- time.Now()
	}()
	waitUntil(t, 20*time.Second, "the step's sleep runs", func() bool { return len(running(a)) == 1 })
	lost := time.Now()
	cancel(jobs.ErrLeaseLost)
	select {
	case at := <-ended:
		if d := at.Sub(lost); d > 10*time.Second {
			t.Errorf("the run ended %s after the lease was lost; the grace period is a minute, and was not to be given", d)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the run did not end within 30s of losing the lease")
	}
	noneLeft(t, 2*time.Second, a)
}

// A gantry killed with SIGKILL leaves its steps' descendants and its
// workspace; the sweep of the next gantry ends and removes them.
func TestSweepEndsWhatAKilledGantryLeft(t *testing.T) {
	for _, c := range containments {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Start(t)
			wd := workDir(t)
			a, b := uniqueSleep(t), uniqueSleep(t)
			j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(),
				Plan: plan("setsid sleep " + a + " & sleep " + b)}
			j.Plan.Timeout = time.Hour
			h := startHelper(t, srv, j, local.Config{WorkDir: wd, CgroupParent: c.cgroupParent})
			waitUntil(t, 20*time.Second, "the step's sleeps run", func() bool {
				return len(running(a)) == 1 && len(running(b)) == 1
			})
			if err := h.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			h.wait(t, 10*time.Second)
			// What a dead gantry leaves: its step's background process and
			// its workspace.
			if len(running(a)) != 1 {
				t.Fatalf("the setsid sleep died with gantry; nothing to sweep")
			}
			if ws, _ := filepath.Glob(filepath.Join(wd, "gantry-job-*")); len(ws) != 1 {
				t.Fatalf("workspaces left by the killed gantry: %v, want one", ws)
			}

			if err := local.New(local.Config{WorkDir: wd, CgroupParent: c.cgroupParent}).Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			noneLeft(t, 5*time.Second, a, b)
			if ws, _ := filepath.Glob(filepath.Join(wd, "gantry-job-*")); len(ws) != 0 {
				t.Errorf("workspaces left after the sweep: %v", ws)
			}
			if c.cgroupParent == "" {
				if cgs := jobCgroupsOf(h.cmd.Process.Pid); len(cgs) > 0 {
					t.Errorf("cgroups left after the sweep: %v", cgs)
				}
			}
		})
	}
}

// jobCgroupsOf lists the job cgroups named after gantry process pid, where
// this process's cgroup is.
func jobCgroupsOf(pid int) []string {
	var out []string
	for _, root := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		m, _ := filepath.Glob(filepath.Join(root, "gantry-job-*-"+strconv.Itoa(pid)+".*"))
		out = append(out, m...)
	}
	return out
}

// The sweep leaves the jobs of a live gantry alone: this test process runs
// a job while another runner sweeps.
func TestSweepLeavesLiveJobsAlone(t *testing.T) {
	for _, c := range containments {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			wd := workDir(t)
			a := uniqueSleep(t)
			j := &jobs.Job{Repo: "scratch", Source: jobs.SourceDir, Path: t.TempDir(), Plan: plan("setsid sleep " + a + " & wait")}
			r := local.New(local.Config{Grace: time.Second, WorkDir: wd, CgroupParent: c.cgroupParent})
			ctx, cancel := context.WithCancelCause(context.Background())
			f.create(t, j)
			ended := make(chan struct{})
			go func() { defer close(ended); _, _ = f.exec(ctx, r, j) }()
			defer func() { cancel(nil); <-ended }()
			waitUntil(t, 20*time.Second, "the step's sleep runs", func() bool { return len(running(a)) == 1 })

			if err := local.New(local.Config{WorkDir: wd, CgroupParent: c.cgroupParent}).Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if len(running(a)) != 1 {
				t.Error("the sweep killed a live job's process")
			}
			if ws, _ := filepath.Glob(filepath.Join(wd, "gantry-job-*")); len(ws) != 1 {
				t.Errorf("workspaces after the sweep: %v, want the live job's", ws)
			}
		})
	}
}
