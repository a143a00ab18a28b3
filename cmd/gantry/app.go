package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/gantry-ci/gantry/internal/rdb"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/artifacts/s3"
	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
	"github.com/gantry-ci/gantry/pool"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
	"github.com/gantry-ci/gantry/web"

	"github.com/gantry-ci/gantry/say"
)

// Version is set at build time with -ldflags "-X main.Version=…".
var Version = "dev"

// Main is the whole program, so end-to-end tests can run it in-process.
type Main struct {
	Args   []string
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer

	logger  *slog.Logger
	metrics atomic.Pointer[web.Metrics] // for hooks made before the HTTP server
	mu      sync.Mutex
	closers []func() error

	// reloading reloads the server config on SIGHUP once it is in use.
	reloading atomic.Pointer[reloader]
	// hup receives SIGHUP from the start of a command that runs until
	// stopped (see catchHUP).
	hup chan os.Signal
	// slackTimeout bounds each Slack Web API call (0: slackCallTimeout).
	slackTimeout time.Duration
	// defaultFile: ./gantry.yml was the config once, so from then on it
	// must be there; a reload never falls back to the built-in defaults.
	defaultFile atomic.Bool
}

// Run runs the subcommand in m.Args and returns the exit code.
func (m *Main) Run(ctx context.Context) int {
	if m.Getenv == nil {
		m.Getenv = func(string) string { return "" }
	}
	level, err := logLevel(m.Getenv("GANTRY_LOG_LEVEL"))
	if err != nil {
		fmt.Fprintln(m.Stderr, "gantry:", err)
		return 1
	}
	m.logger = slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: level}))
	sub, args := "", m.Args
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	if sub == "" {
		if sub, err = m.defaultSubcommand(); err != nil {
			fmt.Fprintln(m.Stderr, "gantry:", err)
			return 1
		}
	}
	switch sub {
	case "console", "worker", "serve", "bot":
		m.catchHUP()
	}
	switch sub {
	case "console":
		err = m.runConsole(ctx)
	case "worker":
		err = m.runWorker(ctx)
	case "check":
		return m.check(ctx, args)
	case "version", "--version":
		fmt.Fprintln(m.Stdout, "gantry", Version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(m.Stdout, usage)
		return 0
	default:
		if run, ok := m.extraSubcommands()[sub]; ok {
			err = run(ctx, args)
			break
		}
		fmt.Fprintf(m.Stderr, "gantry: unknown subcommand %q\n\n%s", sub, usage)
		return 2
	}
	if err != nil {
		var se *settingError
		if errors.As(err, &se) {
			fmt.Fprintln(m.Stderr, "gantry:", se.Error())
		} else {
			fmt.Fprintln(m.Stderr, "gantry:", err)
		}
		return 1
	}
	return 0
}

const usage = `usage: gantry [subcommand]

  console      chat with gantry in the terminal (default without Slack tokens)
  serve        Slack bot, workers and HTTP server in one process (default with Slack tokens)
  bot          the Slack bot and HTTP server alone
  worker       a worker alone: takes jobs from the queue and runs them
  check FILE   validate a .gantry.yml or gantry.yml and print what it would run;
               check --server gantry.yml .gantry.yml also checks the one against the other;
               a server config may be s3://BUCKET/KEY or ssm:NAME, as in GANTRY_CONFIG
  fetch        inside an ECS job task: check the job's source out for its steps
  collect      inside an ECS job task, after the steps: read test reports, upload artifacts
  version      print the version

Settings come from the environment (SLACK_APP_TOKEN, SLACK_BOT_TOKEN, REDIS_URL,
GANTRY_CONFIG, GANTRY_HTTP_ADDR, GANTRY_PUBLIC_URL, GITHUB_TOKEN, AWS_REGION …);
see README.md. SIGHUP makes a running gantry read its gantry.yml again.
`

// Close releases everything Run opened, newest first.
func (m *Main) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for i := len(m.closers) - 1; i >= 0; i-- {
		errs = append(errs, m.closers[i]())
	}
	m.closers = nil
	return errors.Join(errs...)
}

func (m *Main) onClose(f func() error) {
	m.mu.Lock()
	m.closers = append(m.closers, f)
	m.mu.Unlock()
}

// logLevel reads GANTRY_LOG_LEVEL: unset is info; anything but the four
// names is refused rather than quietly read as info.
func logLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, &settingError{"GANTRY_LOG_LEVEL", fmt.Sprintf("%q is not a log level: use debug, info, warn or error", s)}
}

// defaultSubcommand is what gantry runs when no subcommand is given: Slack
// with both tokens, the console with neither, and a refusal with one, so a
// half-done Slack setup does not start a console nobody asked for.
func (m *Main) defaultSubcommand() (string, error) {
	app, botToken := m.Getenv("SLACK_APP_TOKEN") != "", m.Getenv("SLACK_BOT_TOKEN") != ""
	switch {
	case app && botToken:
		return "serve", nil
	case app:
		return "", &settingError{"SLACK_BOT_TOKEN", "is not set, but SLACK_APP_TOKEN is: Slack needs both (the bot token is xoxb-…); unset SLACK_APP_TOKEN for the terminal console"}
	case botToken:
		return "", &settingError{"SLACK_APP_TOKEN", "is not set, but SLACK_BOT_TOKEN is: Slack needs both (the app-level token is xapp-…); unset SLACK_BOT_TOKEN for the terminal console"}
	}
	return "console", nil
}

// settingError is a setting that stops start-up: it names the setting.
type settingError struct {
	name, problem string
}

func (e *settingError) Error() string { return e.name + ": " + e.problem }

// loadConfig reads the server config named by GANTRY_CONFIG (a file, s3:// or
// ssm:, see configsource.go), ./gantry.yml, or the built-in defaults when
// there is no ./gantry.yml and never was: a ./gantry.yml that goes away
// (or cannot be read) is an error, so a reload keeps the config in use.
func (m *Main) loadConfig() (*spec.Server, error) {
	path := m.Getenv("GANTRY_CONFIG")
	if path == "" {
		_, err := os.Stat("gantry.yml")
		if errors.Is(err, fs.ErrNotExist) && !m.defaultFile.Load() {
			return spec.DefaultServer(), nil
		}
		m.defaultFile.Store(true)
		path = "gantry.yml"
	}
	data, isFile, err := m.readConfig(path)
	if err != nil {
		return nil, err
	}
	cfg, err := spec.ParseServer(path, data)
	if err != nil {
		return nil, err
	}
	// A repo's path is relative to the config file, not to wherever gantry
	// happens to be started.
	for name, r := range cfg.Repos {
		if isFile && r.Path != "" && !filepath.IsAbs(r.Path) {
			r.Path = filepath.Join(filepath.Dir(path), r.Path)
			cfg.Repos[name] = r
		}
	}
	return cfg, nil
}

// connectRedis opens REDIS_URL, or an embedded Redis when it is unset.
func (m *Main) connectRedis(ctx context.Context) (redis.UniversalClient, error) {
	url := m.Getenv("REDIS_URL")
	if url == "" {
		// The embedded Redis has no listener at all: the client reaches it
		// over in-memory pipes, so no step (whatever user it runs as) can
		// connect to it, read the link secret or rewrite a job.
		mr := miniredis.NewMiniRedis()
		m.onClose(func() error { mr.Close(); return nil })
		m.logger.Warn("REDIS_URL is not set: using an embedded in-process Redis; nothing survives a restart")
		rdb := redis.NewClient(&redis.Options{
			Addr:   "embedded",
			Dialer: func(context.Context, string, string) (net.Conn, error) { return mr.Dial() },
		})
		m.onClose(rdb.Close)
		return rdb, nil
	}
	rdb, err := openRedis(url)
	if err != nil {
		return nil, &settingError{"REDIS_URL", err.Error()}
	}
	m.onClose(rdb.Close)
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, &settingError{"REDIS_URL", fmt.Sprintf("cannot reach %s: %v", redactURL(url), err)}
	}
	if err := checkRedisVersion(ctx, rdb); err != nil {
		return nil, &settingError{"REDIS_URL", err.Error()}
	}
	return rdb, nil
}

// parts are the pieces every mode shares.
type parts struct {
	// cfg is the server config the parts were built from; live holds the
	// one in use, which reload swaps (see restartOnly).
	cfg      *spec.Server
	live     *atomic.Pointer[spec.Server]
	store    *jobs.Store
	log      *jobs.Log
	redactor *jobs.Redactor
	// redis is the Redis layer on the client, and namespace the hash tag of
	// every key ("gantry" unless GANTRY_REDIS_NAMESPACE says).
	redis     *rdb.Client
	namespace string
	// localSecrets are the values of the secrets the config grants, read
	// for the local runner.
	localSecrets map[spec.Secret]string
	sources      *scm.Resolver
	github       *scm.GitHub // nil without GITHUB_TOKEN
	pools        *pool.Pools // resource pools; nil when none are configured
	slots        *pool.Pools // one single-member pool per environment: one deploy at a time
	running      *pool.Pools // per repo with a concurrency:, that many members; nil when none has
	links        *web.Links  // signed job page links; nil without an HTTP server
	metrics      *web.Metrics
	groups       commands.Groups     // Slack user groups; nil outside Slack
	channels     commands.Channels   // Slack channel members and privacy; nil outside Slack
	names        say.Names           // Slack display names, for pages; nil outside Slack
	scheduler    *commands.Scheduler // the server config's schedules; set by service
	bucket       *s3.Bucket          // where artifacts go with artifacts.bucket; else nil
	artifactDir  *artifacts.Dir      // where artifacts go without a bucket; else nil
	previews     *previewKeeper      // ends the apps of previews; never nil
}

// jobLink is the signed link to a job's page, or nil without a web server.
func (p *parts) jobLink() func(int64) string {
	if p.links == nil {
		return nil
	}
	return p.links.Job
}

func (m *Main) build(ctx context.Context) (*parts, error) {
	cfg, err := m.loadConfig()
	if err != nil {
		return nil, err
	}
	client, err := m.connectRedis(ctx)
	if err != nil {
		return nil, err
	}
	redisLayer := rdb.New(client)
	store := jobs.NewStore(redisLayer, jobs.StoreConfig{Namespace: m.Getenv("GANTRY_REDIS_NAMESPACE"), Retention: cfg.Retention.Jobs})
	var local map[spec.Secret]string
	if cfg.Runner.Kind == "" || cfg.Runner.Kind == "local" {
		if local, err = m.localSecrets(cfg); err != nil {
			return nil, err
		}
	}
	redactor := jobs.NewRedactor(append(append(m.secrets(), m.eventSecrets(cfg)...), secretValues(local)...)...)
	log := jobs.NewLog(store, jobs.LogConfig{Retention: cfg.Retention.Logs}, redactor)
	gh, err := m.githubClient()
	if err != nil {
		return nil, err
	}
	live := new(atomic.Pointer[spec.Server])
	live.Store(cfg)
	p := &parts{cfg: cfg, live: live, store: store, log: log, redactor: redactor, localSecrets: local, sources: scm.NewLiveResolver(live, githubReader(gh)), github: gh,
		previews: &previewKeeper{}}
	ns := m.Getenv("GANTRY_REDIS_NAMESPACE")
	if ns == "" {
		ns = "gantry"
	}
	p.redis, p.namespace = redisLayer, ns
	if running := repoSlots(cfg); len(running) > 0 {
		p.running = pool.New(p.redis, running, pool.Config{Namespace: ns + "-running", Logger: m.logger})
	}
	if len(cfg.Pools) > 0 {
		p.pools = pool.New(p.redis, cfg.Pools, pool.Config{Namespace: ns, Logger: m.logger})
	}
	if len(cfg.Environments) > 0 {
		envs := make(map[string][]string, len(cfg.Environments))
		for name := range cfg.Environments {
			envs[name] = []string{name}
		}
		p.slots = pool.New(p.redis, envs, pool.Config{Namespace: ns + "-deploys", Logger: m.logger})
	}
	if err := m.artifactStores(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// repoSlots are the pools of the repos with a concurrency limit: one per
// repo, with as many members as builds may run at once.
func repoSlots(cfg *spec.Server) map[string][]string {
	out := map[string][]string{}
	for name, r := range cfg.Repos {
		for i := range r.Concurrency {
			out[jobs.RepoPool(name)] = append(out[jobs.RepoPool(name)], fmt.Sprintf("%s-%d", name, i+1))
		}
	}
	return out
}

// gates are what a job passes before it runs: the build it follows, the
// pools and environment it needs defined in gantry.yml as it reads now,
// after any reload (the console's deploys may go anywhere), its
// environment's turn, a place among its repo's running builds, its
// resources, and gantry.yml once more: a reload while the job waited may
// have removed its environment.
func (p *parts) gates() []jobs.Gate {
	defined := &jobs.ConfigGate{Config: p.live.Load, AnyEnv: func(j *jobs.Job) bool { return j.Channel == bot.ConsoleChannel }}
	gs := []jobs.Gate{&jobs.AfterGate{}, defined}
	if p.slots != nil {
		gs = append(gs, &jobs.EnvGate{Slots: p.slots, Known: func(env string) bool {
			_, ok := p.cfg.Environments[env]
			return ok
		}})
	}
	if p.running != nil {
		gs = append(gs, &jobs.RepoGate{Slots: p.running, Limit: func(repo string) int { return p.cfg.Repos[repo].Concurrency }})
	}
	rg := &jobs.ResourceGate{Known: func(name string) bool { _, ok := p.cfg.Pools[name]; return ok }}
	if p.pools != nil {
		rg.Pools = p.pools
	}
	return append(gs, rg, defined)
}

// secrets are the values of gantry's own settings that must never be shown.
func (m *Main) secrets() []string {
	var out []string
	for _, k := range []string{"SLACK_APP_TOKEN", "SLACK_BOT_TOKEN", "GITHUB_TOKEN", "GITHUB_WEBHOOK_SECRET",
		"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GANTRY_LINK_SECRET", "GANTRY_FETCH_TOKEN"} {
		if v := m.Getenv(k); v != "" {
			out = append(out, v)
		}
	}
	if u, err := url.Parse(m.Getenv("REDIS_URL")); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			out = append(out, pw)
		}
	}
	return out
}

func (m *Main) runner(ctx context.Context, p *parts) (jobs.Runner, error) {
	switch p.cfg.Runner.Kind {
	case "", "local":
		r := local.New(local.Config{GitHubToken: m.Getenv("GITHUB_TOKEN"), User: p.cfg.Runner.Local.User, Logger: m.logger,
			Artifacts: p.saver(), Limits: p.artifactLimits(),
			Previews: &local.PreviewConfig{Max: p.cfg.Previews.PreviewMax(), TTL: p.cfg.Previews.PreviewTTL(), URL: p.previewLink, Now: p.store.Now}})
		if err := r.Check(); err != nil {
			return nil, &settingError{"runner.local.user", err.Error()}
		}
		// What a killed predecessor on this machine left: processes, job
		// cgroups, workspaces.
		if err := r.Sweep(ctx); err != nil {
			m.logger.Warn("sweep what earlier local jobs left", "err", err)
		}
		// A local preview lives in this process: it ends when gantry does.
		p.previews.local = r
		m.onClose(func() error { r.ClosePreviews(context.Background(), p.store.Previews()); return nil })
		return &secretsRunner{inner: r, cfg: p.cfg, values: p.localSecrets}, nil
	case "ecs":
		return m.ecsRunner(ctx, p)
	}
	return nil, &settingError{"runner.kind", fmt.Sprintf("%q is not available in this build", p.cfg.Runner.Kind)}
}

func (m *Main) worker(ctx context.Context, p *parts) (*jobs.Worker, error) {
	r, err := m.runner(ctx, p)
	if err != nil {
		return nil, err
	}
	cfg := jobs.WorkerConfig{
		Concurrency: p.cfg.Workers, MaxAttempts: p.cfg.Retry.MaxAttempts, Backoff: p.cfg.Retry.Backoff,
		Logger: m.logger,
	}
	if p.metrics != nil {
		var dropped atomic.Int64 // of the log's DroppedBytes already counted
		cfg.Ended = func(j *jobs.Job) {
			p.metrics.JobEnded(j, p.store.Now())
			now := p.log.DroppedBytes()
			p.metrics.LogBytesDropped(now - dropped.Swap(now))
		}
	}
	if p.cfg.Runner.Kind == "ecs" {
		if cfg.Busy, err = m.ecsWorkerHooks(ctx, p); err != nil {
			return nil, err
		}
	}
	return jobs.NewWorker(p.store, p.log, r, p.gates(), cfg), nil
}

// service builds the command service; notices is where a lock's reminder
// and its end are said (nil: nowhere).
func (m *Main) service(p *parts, notices bot.Surface) *commands.Service {
	d := commands.Deps{Config: p.cfg, Live: p.live, Store: p.store, Log: p.log, Sources: p.sources, Groups: p.groups, Channels: p.channels, Logger: m.logger, Links: p.jobLink(),
		PreviewStopper: p.previews, PreviewLink: p.previewLink}
	if notices != nil {
		d.Notices = bot.Notices{Surface: notices}
	}
	if p.links != nil {
		d.ListLink = p.links.List
	}
	if p.pools != nil {
		d.Pools = p.pools
	}
	svc := commands.NewService(d)
	p.scheduler = svc.Scheduler(rdb.NewSchedules(p.redis, p.namespace), commands.SchedulerConfig{})
	return svc
}

// chores ends unanswered approval requests as their time runs out,
// reminds of and releases locks as they lapse, and starts the jobs of the
// schedules as they come due, until ctx ends.
func (m *Main) chores(ctx context.Context, p *parts, svc *commands.Service) {
	done := make(chan struct{})
	go func() { defer close(done); _ = p.scheduler.Run(ctx) }()
	defer func() { <-done }()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := svc.ExpireApprovals(ctx); err != nil && ctx.Err() == nil {
				m.logger.Error("expire approval requests", "err", err)
			}
			if err := svc.SweepLocks(ctx); err != nil && ctx.Err() == nil {
				m.logger.Error("sweep environment locks", "err", err)
			}
			if err := p.previews.sweep(ctx, p.store); err != nil && ctx.Err() == nil {
				m.logger.Error("sweep previews", "err", err)
			}
		}
	}
}

func (m *Main) runConsole(ctx context.Context) error {
	p, err := m.build(ctx)
	if err != nil {
		return err
	}
	if err := m.useConfig(ctx, p, consoleNames); err != nil {
		return err
	}
	gh, err := m.setupGitHub(p)
	if err != nil {
		return err
	}
	srv, l, err := m.webServer(ctx, p, consoleHTTPAddr, gh.webhook())
	var se *settingError
	switch {
	case errors.As(err, &se) && se.name != "GANTRY_HTTP_ADDR":
		return err // a wrong setting stops the console as it stops serve
	case err != nil:
		// The console works without job pages (the port is taken, say):
		// say so and go on.
		m.logger.Warn("job pages are off", "err", err)
	}
	w, err := m.worker(ctx, p)
	if err != nil {
		return err
	}
	evs, err := m.setupEvents(ctx, p)
	if err != nil {
		return err
	}
	user := m.Getenv("USER")
	if user == "" {
		user = "you"
	}
	console := bot.NewConsole(m.Stdout, user)
	console.ShowNames(bot.KeptNames{Store: p.store})
	threads := bot.NewThreads(p.store, p.log, console, bot.ThreadsConfig{Logger: m.logger, Links: p.jobLink(), ArtifactLinks: p.artifactLink()})
	from, err := p.store.LastEventID(ctx)
	if err != nil {
		return err
	}
	svc := m.service(p, console)
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	gh.start(ctx, &wg)
	if err := evs.start(ctx, &wg); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	wg.Add(3)
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	go func() { defer wg.Done(); _ = threads.Consume(ctx, from) }()
	go func() { defer wg.Done(); m.chores(ctx, p, svc) }()
	if srv != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = srv.Serve(ctx, l) }()
	}
	fmt.Fprintf(m.Stdout, "gantry %s console — type `help`, or try `build examples/hello`. Ctrl-D quits.\n", Version)
	err = console.Run(ctx, m.Stdin, svc)
	if errors.Is(err, io.EOF) {
		// Input came from a pipe and ended: let what it started finish,
		// and say what that is, since nothing can be typed any more.
		said := ""
		err = threads.WaitIdle(ctx, func(active []*jobs.Job) {
			// Again when a job comes or goes or starts to need an approval,
			// not at every step.
			var key strings.Builder
			for _, j := range active {
				fmt.Fprintf(&key, "%d:%t ", j.ID, j.State == jobs.AwaitingApproval)
			}
			if key.String() != said {
				said = key.String()
				inputEnded(m.Stdout, active, m.Getenv("REDIS_URL") != "")
			}
		})
		if errors.Is(err, context.Canceled) {
			err = nil
		}
	}
	cancel()
	wg.Wait()
	threads.Close()
	return err
}

// inputEnded says, once the console's input has ended, which jobs it still
// waits for, and for a job that needs a person (an approval) that nobody
// can give it from this console any more. It is said again only when a job
// comes or goes or starts to await approval, so it names no other state,
// which would go stale. shared: the console's Redis is a REDIS_URL, which
// a gantry bot or another console may share.
func inputEnded(w io.Writer, active []*jobs.Job, shared bool) {
	var b strings.Builder
	b.WriteString("gantry > input ended; waiting for")
	approval := false
	for i, j := range active {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, " %s %s %s", j.Name(), j.What(), j.Repo)
		if j.State == jobs.AwaitingApproval {
			b.WriteString(" (awaiting approval)")
			approval = true
		}
	}
	b.WriteString(". Ctrl-C quits.")
	switch {
	case approval && shared:
		b.WriteString(" A deploy awaiting approval cannot be approved here any more: approve it from a gantry bot or console on the same Redis, or Ctrl-C and run it again.")
	case approval:
		b.WriteString(" A deploy awaiting approval cannot be approved here any more, and nothing else reaches this console's embedded Redis: Ctrl-C and run it again.")
	}
	fmt.Fprintln(w, b.String())
}

func (m *Main) runWorker(ctx context.Context) error {
	p, err := m.build(ctx)
	if err != nil {
		return err
	}
	if err := m.checkLocalTrust(); err != nil {
		return err
	}
	if err := m.useConfig(ctx, p, keptNames); err != nil {
		return err
	}
	probes, l, err := m.workerProbes(p)
	if err != nil {
		return err
	}
	w, err := m.worker(ctx, p)
	if err != nil {
		return err
	}
	m.logger.Info("worker started", "name", w.Name())
	if probes == nil {
		return w.Run(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- probes.Serve(ctx, l) }()
	err = w.Run(ctx)
	cancel()
	return errors.Join(err, <-served)
}

// extraSubcommands are the subcommands that other files add.
func (m *Main) extraSubcommands() map[string]func(context.Context, []string) error {
	return map[string]func(context.Context, []string) error{
		"serve":   m.runServe,   // Slack bot, workers and HTTP server
		"bot":     m.runBot,     // Slack bot and HTTP server
		"fetch":   m.runFetch,   // inside an ECS task: check the source out for the job container
		"collect": m.runCollect, // inside an ECS task: after the steps, report and upload results
	}
}
