package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/jobs/local"
)

// A worker process is this program run again with -child: gantry's real
// store, log, local runner and worker, wired as `gantry worker` wires them
// (a sweep of what a dead predecessor left, then the worker loop), on the
// run's Redis. It is what a worker kill -9 kills.

// workerArgs are a worker process's options.
type workerArgs struct {
	redis     string // a single server's address; or
	sentinels string // the sentinels' addresses, comma-separated
	name      string
	workDir   string
	lease     time.Duration
}

func (a workerArgs) flags() []string {
	return []string{"-child", "-child-redis", a.redis, "-child-sentinels", a.sentinels,
		"-child-name", a.name, "-child-workdir", a.workDir, "-child-lease", a.lease.String()}
}

// childFlags declares the worker process's flags on fs.
func childFlags(fs *flag.FlagSet) (child *bool, a *workerArgs) {
	a = &workerArgs{}
	child = fs.Bool("child", false, "run as a worker process (used by the program itself)")
	fs.StringVar(&a.redis, "child-redis", "", "worker process: Redis address")
	fs.StringVar(&a.sentinels, "child-sentinels", "", "worker process: sentinel addresses, comma-separated")
	fs.StringVar(&a.name, "child-name", "", "worker process: worker name")
	fs.StringVar(&a.workDir, "child-workdir", "", "worker process: where workspaces go")
	fs.DurationVar(&a.lease, "child-lease", 15*time.Second, "worker process: lease TTL")
	return child, a
}

// runWorker is the worker process: it runs until SIGTERM.
func runWorker(a workerArgs) error {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil)).With("worker", a.name)
	rc := rdb.New(a.client())
	defer rc.Close()
	store := jobs.NewStore(rc, jobs.StoreConfig{})
	lg := jobs.NewLog(store, jobs.LogConfig{Logger: logger}, jobs.NewRedactor())
	runner := local.New(local.Config{WorkDir: a.workDir, Logger: logger})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := runner.Sweep(ctx); err != nil {
		logger.Warn("sweep what a stopped worker left", "err", err)
	}
	w := jobs.NewWorker(store, lg, runner, nil, jobs.WorkerConfig{
		Name: a.name, LeaseTTL: a.lease, Concurrency: 2, Logger: logger,
	})
	return w.Run(ctx)
}

// client is what gantry builds for the run's REDIS_URL.
func (a workerArgs) client() redis.UniversalClient {
	if a.sentinels != "" {
		return redis.NewFailoverClient(&redis.FailoverOptions{MasterName: masterName, SentinelAddrs: strings.Split(a.sentinels, ",")})
	}
	return redis.NewClient(&redis.Options{Addr: a.redis})
}

// workerProc is a worker process as the parent sees it.
type workerProc struct {
	name string
	cmd  *exec.Cmd
	logf string // its stderr: gantry's JSON log
	done chan struct{}
}

// startWorkerProc runs a worker process, its log going to logPath.
func startWorkerProc(a workerArgs, logPath string) (*workerProc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cmd := exec.Command(self, a.flags()...)
	cmd.Stdout, cmd.Stderr = f, f
	// Gone with the bench if it dies; and in a process group of its own,
	// so that a ^C reaches it only through the bench.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker %s: %w", a.name, err)
	}
	p := &workerProc{name: a.name, cmd: cmd, logf: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// kill9 ends the worker with SIGKILL: no hand-back, no clean-up.
func (p *workerProc) kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop asks the worker to stop (SIGTERM) and kills it after within.
func (p *workerProc) stop(within time.Duration) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(within):
		p.kill9()
	}
}
