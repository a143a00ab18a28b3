package slackbench

import (
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/bot/slack"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/spec"
)

var busyStep = flag.Duration("step", time.Second, "how long each of a job's two steps takes (BenchmarkBusyChannel)")

// BenchmarkBusyChannel starts many jobs at once, in one channel or spread
// over ten, against the fake Slack with its limits on, and reports what
// each job cost and how long its end took to show.
func BenchmarkBusyChannel(b *testing.B) {
	for _, tc := range []struct{ jobs, channels int }{{10, 1}, {50, 1}, {10, 10}, {50, 10}} {
		b.Run(fmt.Sprintf("jobs=%d/channels=%d", tc.jobs, tc.channels), func(b *testing.B) {
			busyChannel(b, tc.jobs, tc.channels, *busyStep)
		})
	}
}

// busyRig is gantry's thread side, wired as `gantry serve` wires it, with
// a worker that runs n jobs at once.
type busyRig struct {
	srv   *slackserver.Server
	store *jobs.Store
	log   *jobs.Log
}

func newBusyRig(b measurer, n int) *busyRig {
	srv := slackserver.New(b)
	rdb := redistest.Start(b)
	store := jobs.NewStore(rdb.RDB(), jobs.StoreConfig{})
	log := jobs.NewLog(store, jobs.LogConfig{}, nil)
	api := goslack.New(slackserver.BotToken, goslack.OptionAPIURL(srv.APIURL()))
	sched := slack.NewScheduler(slack.SchedulerConfig{Logger: quiet})
	b.Cleanup(sched.Close)
	surf := slack.NewSurface(api, sched, slack.SurfaceConfig{
		Leases: store.Claims("bench/1", 0), Logger: quiet,
		Refresh: func(ctx context.Context, m bot.Message) (bot.Message, error) {
			j, err := store.Get(ctx, m.Card.Job)
			if err != nil {
				return m, err
			}
			return bot.JobMessage(j, store.Now(), ""), nil
		},
	})
	threads := bot.NewThreads(store, log, surf, bot.ThreadsConfig{Logger: quiet, UploadFailed: true, QuietUnasked: true, Claim: store.FirstSeen, Unclaim: store.Forget})
	w := jobs.NewWorker(store, log, local.New(local.Config{Logger: quiet}), nil, jobs.WorkerConfig{Concurrency: n, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	if err := store.CreateEventGroup(ctx, "slack"); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	go func() { defer wg.Done(); _ = threads.ConsumeGroup(ctx, bot.GroupConfig{Consumer: "bench/1"}) }()
	b.Cleanup(func() { cancel(); wg.Wait(); threads.Close() })
	return &busyRig{srv: srv, store: store, log: log}
}

// busyChannel starts n jobs at once, spread over channels, each of two
// steps of stepFor.
func busyChannel(b measurer, n, channels int, stepFor time.Duration) {
	r := newBusyRig(b, n)
	src := b.TempDir()
	step := stepFor.Seconds()
	plan := spec.Plan{Name: "branch", Timeout: 10 * time.Minute, Steps: []spec.Step{
		{Name: "compile", Run: fmt.Sprintf(`for i in $(seq 1 30); do echo "compiling part $i of job $GANTRY_JOB"; done; sleep %g`, step)},
		{Name: "test", Run: fmt.Sprintf(`for i in $(seq 1 20); do echo "ok test $i"; done; sleep %g; echo "last line of job $GANTRY_JOB"`, step)},
	}}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i++ {
		j := &jobs.Job{Kind: jobs.Build, Repo: "busy", Source: jobs.SourceDir, Path: src, Plan: plan,
			Channel: fmt.Sprintf("C0BUSY%02d", i%channels), Requester: fmt.Sprintf("U0DEV%02d", i)}
		if err := r.store.Create(ctx, j); err != nil {
			b.Fatal(err)
		}
	}
	r.srv.WaitFor(b, 10*time.Minute, "every job's thread at its end", func(s *slackserver.Server) bool {
		ended := 0
		for c := 0; c < channels; c++ {
			for _, m := range s.Messages(fmt.Sprintf("C0BUSY%02d", c)) {
				if strings.HasPrefix(m.Text, "Log of #") || strings.Contains(m.Text, ":white_check_mark: #") {
					ended++
				}
			}
		}
		return ended == 2*n
	})
	took := time.Since(start)
	b.StopTimer()
	lags, posts, late := r.lags(b, n)
	slices.Sort(lags)
	pct := func(p float64) float64 { return lags[int(p*float64(len(lags)-1))].Seconds() }
	calls := len(r.srv.Calls(""))
	b.ReportMetric(float64(calls)/float64(n), "calls/job")
	b.ReportMetric(float64(posts)/float64(n), "posts/job")
	b.ReportMetric(float64(r.srv.CallCount("chat.update"))/float64(n), "updates/job")
	b.ReportMetric(pct(0.5), "lag-p50-s")
	b.ReportMetric(pct(0.99), "lag-p99-s")
	b.ReportMetric(took.Seconds(), "all-shown-s")
	b.ReportMetric(float64(r.srv.Throttled("")), "429s")
	b.ReportMetric(float64(late), "posted-after-end")
	b.Logf("%d jobs in %d channel(s): every thread complete after %v; lag from a job's end to its final state p50 %.2fs p99 %.2fs max %.2fs; "+
		"%d job messages first posted after their job had ended; %d calls (%d 429s from the limits)",
		n, channels, took.Round(time.Millisecond), pct(0.5), pct(0.99), lags[len(lags)-1].Seconds(), late, calls, r.srv.Throttled(""))
}

// lags returns, for jobs 1..n, the time from each job's end (its record's
// Finished) to the first version of its message that showed its final
// state, as the fake Slack recorded it; the messages posted for them; and
// how many job messages the channel's posting limit let out only after
// their job had ended.
func (r *busyRig) lags(b measurer, n int) ([]time.Duration, int, int) {
	ctx := context.Background()
	var lags []time.Duration
	posts, late := 0, 0
	for id := int64(1); id <= int64(n); id++ {
		j, err := r.store.Get(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		if j.State != jobs.Succeeded {
			b.Fatalf("job #%d ended %s", id, j.State)
		}
		card, ok := r.srv.Message(j.Channel, j.ThreadTS)
		if !ok {
			b.Fatalf("job #%d has no message", id)
		}
		lag := time.Duration(-1)
		for _, rev := range card.Revisions {
			if strings.Contains(rev.Text, ": "+string(j.State)) {
				lag = rev.At.Sub(j.Finished)
				break
			}
		}
		if lag < 0 {
			b.Fatalf("job #%d's message never showed %s", id, j.State)
		}
		if card.Posted.After(j.Finished) {
			late++
		}
		lags = append(lags, lag)
		for _, m := range r.srv.Thread(j.Channel, j.ThreadTS) {
			if m.FromBot() && len(m.Files) == 0 {
				posts++
			}
		}
	}
	return lags, posts, late
}
