package commands_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/spec"
)

// queueJobs creates n jobs of the fixture's app repo as origin asks, with
// the plan of its branch pipeline (or deploy stage, for a deploy).
func queueJobs(t *testing.T, f *deployFixture, n int, kind jobs.Kind, origin string) []int64 {
	t.Helper()
	dir := f.cfg.Repos["app"].Path
	data, err := os.ReadFile(filepath.Join(dir, ".gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	file, err := spec.Parse(".gantry.yml", data)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := file.Pipeline("branch")
	if kind == jobs.Deploy {
		plan, err = file.Deploy("staging")
	}
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for range n {
		j := &jobs.Job{Kind: kind, Repo: "app", Source: jobs.SourceDir, Path: dir, Plan: *plan, Origin: origin, Channel: "C0APPS"}
		if kind == jobs.Deploy {
			j.Env, j.Requester = "staging", "U07"
		}
		if err := f.store.Create(context.Background(), j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	return ids
}

// TestDeployTypedAfterQueuedWebhookBuildsStartsNext: with one worker slot,
// a deploy queued after 20 webhook builds is the next job to start, and a
// typed build comes before the webhook builds; the 100 scheduled jobs
// queued with them still all run.
func TestDeployTypedAfterQueuedWebhookBuildsStartsNext(t *testing.T) {
	f := newDeployFixture(t)
	// Starts are told apart by the real clock (the fixture's stands still).
	f.store = jobs.NewStore(f.rdb.RDB(), jobs.StoreConfig{})
	f.log = jobs.NewLog(f.store, jobs.LogConfig{}, nil)
	if err := os.WriteFile(filepath.Join(f.cfg.Repos["app"].Path, ".gantry.yml"), []byte("pipelines:\n  branch: {steps: [\"true\"]}\ndeploy:\n  staging: {steps: [\"true\"]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	scheduled := queueJobs(t, f, 100, jobs.Build, "schedule")
	webhook := queueJobs(t, f, 20, jobs.Build, "github")
	typed := queueJobs(t, f, 1, jobs.Build, "chat")
	deploy := queueJobs(t, f, 1, jobs.Deploy, "chat")

	// queue shows the order and why.
	r := f.svc.Handle(context.Background(), &commands.Request{User: "U09", Channel: "C0APPS", Text: "queue"})
	text := r.Text.String()
	line := func(prefix string) string {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, prefix) {
				return l
			}
		}
		return ""
	}
	for prefix, want := range map[string]string{"1. ": "#122 deploy", "2. ": "#121 build", "3. ": "#101 build", "20. ": "#118 build", "… and ": "102 more in line"} {
		if !strings.Contains(line(prefix), want) {
			t.Errorf("queue says:\n%s\nwant a line %q… with %q", text, prefix, want)
		}
	}
	if !strings.Contains(line("1. "), "(a deploy)") || !strings.Contains(line("2. "), "(typed)") || !strings.Contains(line("3. "), "(a webhook build)") {
		t.Errorf("queue does not say why:\n%s", text)
	}

	w := jobs.NewWorker(f.store, f.log, local.New(local.Config{}), nil, jobs.WorkerConfig{Concurrency: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	all := append(append(append(append([]int64{}, scheduled...), webhook...), typed...), deploy...)
	deadline := time.Now().Add(60 * time.Second)
	var started map[int64]time.Time
	for time.Now().Before(deadline) {
		started = map[int64]time.Time{}
		finished := 0
		for _, id := range all {
			j := f.job(t, id)
			started[id] = j.Started
			if j.State.Final() {
				finished++
			}
		}
		if finished == len(all) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, id := range all {
		if j := f.job(t, id); j.State != jobs.Succeeded {
			t.Fatalf("job #%d (%s) is %s, want succeeded: every class runs in the end", id, j.Class(), j.State)
		}
	}
	before := func(a, b int64) bool { return !started[b].Before(started[a]) }
	first := deploy[0]
	for _, id := range all {
		if id != first && !before(first, id) {
			t.Errorf("job #%d (%s) started at %s, before the deploy #%d at %s", id, f.job(t, id).Class(), started[id].Format(time.StampMilli), first, started[first].Format(time.StampMilli))
		}
	}
	for _, id := range webhook {
		if !before(typed[0], id) {
			t.Errorf("webhook build #%d started before the typed build #%d", id, typed[0])
		}
	}
	// The weights let scheduled jobs through while webhook builds wait:
	// one in every three of the first webhook and scheduled jobs to start.
	firstScheduled := started[scheduled[0]]
	for _, id := range scheduled {
		if started[id].Before(firstScheduled) {
			firstScheduled = started[id]
		}
	}
	lastWebhook := started[webhook[0]]
	for _, id := range webhook {
		if started[id].After(lastWebhook) {
			lastWebhook = started[id]
		}
	}
	if !firstScheduled.Before(lastWebhook) {
		t.Errorf("no scheduled job started before the last webhook build (%s vs %s): the lowest class waited for the whole class above it", firstScheduled.Format(time.StampMilli), lastWebhook.Format(time.StampMilli))
	}
}
