package slackbench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/bot/slack"
	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/internal/slackserver"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

var (
	rate    = flag.Int("rate", 200, "slash commands a second (BenchmarkAckLatency)")
	sendFor = flag.Duration("for", 10*time.Second, "how long commands are sent (BenchmarkAckLatency)")
	lines   = flag.Int("lines", 100000, "lines the job prints (BenchmarkLiveLogCalls)")
	over    = flag.Duration("over", 60*time.Second, "how long the job prints (BenchmarkLiveLogCalls)")
	workers = flag.Int("handlers", 0, "Slack request handlers (BenchmarkAckLatency); 0 is the default")
)

const channel = "C0BENCH"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// rig is the Slack half of gantry, wired as `gantry bot` wires it.
type rig struct {
	srv   *slackserver.Server
	store *jobs.Store
	log   *jobs.Log
	surf  *slack.Surface
}

func newRig(b measurer) *rig {
	srv := slackserver.New(b)
	rdb := redistest.Start(b)
	store := jobs.NewStore(rdb.RDB(), jobs.StoreConfig{})
	log := jobs.NewLog(store, jobs.LogConfig{}, nil)
	api := goslack.New(slackserver.BotToken, goslack.OptionAPIURL(srv.APIURL()), goslack.OptionAppLevelToken(slackserver.AppToken))
	sched := slack.NewScheduler(slack.SchedulerConfig{Logger: quiet})
	b.Cleanup(sched.Close)
	surf := slack.NewSurface(api, sched, slack.SurfaceConfig{Leases: store.Claims("bench/1", 0), Logger: quiet})
	return &rig{srv: srv, store: store, log: log, surf: surf}
}

// gitRepo is a checkout of examples/hello, bound to the bench channel.
func gitRepo(b measurer) string {
	dir := b.TempDir()
	for _, name := range []string{".gantry.yml", "greet.sh"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "examples", "hello", name))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"-c", "user.name=b", "-c", "user.email=b@example.com", "commit", "-qm", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func BenchmarkAckLatency(b *testing.B) {
	for _, text := range []string{"build", "status #1"} {
		b.Run(strings.Fields(text)[0], func(b *testing.B) { ackLatency(b, text, *rate, *sendFor, *workers) })
	}
}

// ackLatency sends slash commands with text at rate a second for sendFor
// to a bot with handlers request handlers (0: the default), and reports
// the time from each envelope's delivery to its ack.
func ackLatency(b measurer, text string, rate int, sendFor time.Duration, handlers int) {
	r := newRig(b)
	cfg := spec.DefaultServer()
	cfg.Repos["hello"] = spec.Repo{Path: gitRepo(b), Channel: channel, DefaultBranch: "main"}
	svc := commands.NewService(commands.Deps{Config: cfg, Store: r.store, Log: r.log, Sources: scm.NewResolver(cfg, nil), Logger: quiet})
	api := goslack.New(slackserver.BotToken, goslack.OptionAPIURL(r.srv.APIURL()), goslack.OptionAppLevelToken(slackserver.AppToken))
	front := slack.New(slack.Config{Socket: socketmode.New(api), Service: svc, Store: r.store, Surface: r.surf, BotUserID: slackserver.BotUserID, Handlers: handlers, Logger: quiet})
	threads := bot.NewThreads(r.store, r.log, r.surf, bot.ThreadsConfig{Logger: quiet, UploadFailed: true, Claim: r.store.FirstSeen})
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.store.CreateEventGroup(ctx, "slack"); err != nil {
		b.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = front.Run(ctx) }()
	go func() { defer wg.Done(); _ = threads.ConsumeGroup(ctx, bot.GroupConfig{Consumer: "bench/1"}) }()
	b.Cleanup(func() { cancel(); wg.Wait(); threads.Close() })
	r.srv.WaitConnection(b, 1, 10*time.Second)
	if text != "build" {
		// A job for status to find.
		if err := r.store.Create(ctx, &jobs.Job{Kind: jobs.Build, Repo: "hello", Channel: channel, Requester: "U0BENCH"}); err != nil {
			b.Fatal(err)
		}
	}

	n := int(sendFor.Seconds() * float64(rate))
	envs := make([]slackserver.Envelope, 0, n)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i++ {
		<-tick.C
		envs = append(envs, r.srv.SendSlashCommand(slackserver.SlashCommand{Text: text, UserID: fmt.Sprintf("U0USER%03d", i%50), ChannelID: channel}))
	}
	sent := time.Since(start)
	r.srv.WaitFor(b, time.Minute, "every ack", func(s *slackserver.Server) bool { return len(s.Acks()) >= n })
	acked := map[string]time.Time{}
	for _, a := range r.srv.Acks() {
		if _, ok := acked[a.EnvelopeID]; !ok && !a.Dropped {
			acked[a.EnvelopeID] = a.At
		}
	}
	lat := make([]time.Duration, 0, n)
	for _, e := range r.srv.Envelopes() {
		if at, ok := acked[e.ID]; ok {
			lat = append(lat, at.Sub(e.Delivered))
		}
	}
	// The answers, to see the handlers keep up.
	r.srv.WaitFor(b, 2*time.Minute, "every answer", func(s *slackserver.Server) bool { return len(s.ResponsePosts()) >= n })
	handled := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(n)/sent.Seconds(), "sent/s")
	b.ReportMetric(float64(n)/handled.Seconds(), "answered/s")
	b.Logf("%q: %d commands in %v, %d acked; all answered after %v", text, n, sent.Round(time.Millisecond), len(lat), handled.Round(time.Millisecond))
}

func BenchmarkLiveLogCalls(b *testing.B) { liveLogCalls(b, *lines, *over) }

// liveLogCalls runs one job that prints lines lines over the time over,
// and reports the Web API calls its live log cost.
func liveLogCalls(b measurer, lines int, over time.Duration) {
	r := newRig(b)
	src := b.TempDir()
	script := fmt.Sprintf(`n=%d; s=%d; for i in $(seq 0 $((s-1))); do seq -f "line %%g of a chatty build, with some ordinary text in it" $((i*n/s+1)) $(((i+1)*n/s)); sleep 1; done`,
		lines, int(over.Seconds()))
	plan := spec.Plan{Name: "branch", Timeout: 10 * time.Minute, Steps: []spec.Step{{Name: "chatty", Run: script}}}
	threads := bot.NewThreads(r.store, r.log, r.surf, bot.ThreadsConfig{Logger: quiet, UploadFailed: true, Claim: r.store.FirstSeen})
	w := jobs.NewWorker(r.store, r.log, local.New(local.Config{Logger: quiet}), nil, jobs.WorkerConfig{Concurrency: 1, Logger: quiet})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	go func() { defer wg.Done(); _ = threads.ConsumeGroup(ctx, bot.GroupConfig{Consumer: "bench/1"}) }()
	b.Cleanup(func() { cancel(); wg.Wait(); threads.Close() })
	// The group must exist before the job's first event.
	if err := r.store.CreateEventGroup(ctx, "slack"); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	start := time.Now()
	j := &jobs.Job{Kind: jobs.Build, Repo: "chatty", Source: jobs.SourceDir, Path: src, Plan: plan, Channel: channel, Requester: "U0BENCH"}
	if err := r.store.Create(ctx, j); err != nil {
		b.Fatal(err)
	}
	// The live log becomes "Log of #1" when the job has ended and its
	// last lines are shown. (Only a failed job's whole log is uploaded.)
	r.srv.WaitFor(b, over+2*time.Minute, "the live log at the job's end", func(s *slackserver.Server) bool {
		for _, m := range s.Messages(channel) {
			if strings.HasPrefix(m.Text, "Log of #") {
				return true
			}
		}
		return false
	})
	took := time.Since(start)
	b.StopTimer()

	final, err := r.store.Get(ctx, j.ID)
	if err != nil || final.State != jobs.Succeeded {
		b.Fatalf("job ended %v (%v)", final.State, err)
	}
	stored, err := r.log.All(ctx, j.ID)
	if err != nil {
		b.Fatal(err)
	}
	if got := strings.Count(string(stored), "\nline "); got != lines {
		b.Errorf("the stored log has %d lines of output, want %d", got, lines)
	}
	live := ""
	for _, m := range r.srv.Thread(channel, final.ThreadTS) {
		if strings.HasPrefix(m.Text, "Log of #") {
			live = m.TS
		}
	}
	byMethod := map[string]int{}
	liveCalls, total := 0, 0
	for _, c := range r.srv.Calls("") {
		byMethod[c.Method]++
		total++
		if c.Args.Get("ts") == live || (c.Method == "chat.postMessage" && strings.Contains(c.Args.Get("metadata"), `"live_log":true`)) {
			liveCalls++
		}
	}
	var parts []string
	for _, m := range sortedKeys(byMethod) {
		parts = append(parts, fmt.Sprintf("%s %d", m, byMethod[m]))
	}
	b.ReportMetric(float64(liveCalls), "live-log-calls")
	b.ReportMetric(float64(total), "api-calls")
	b.ReportMetric(took.Seconds(), "job-s")
	b.Logf("%d lines over %v: job ended and its live log final after %v; live log %d calls (budget %d: one per 2 s, plus post and last); all calls: %s",
		lines, over, took.Round(time.Millisecond), liveCalls, int(took.Seconds()/2)+2, strings.Join(parts, ", "))
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
