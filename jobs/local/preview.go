package local

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// PreviewConfig turns on previews on the local runner: a build whose plan
// has preview: keeps its app running after the steps succeed. A local
// preview lives in the gantry process that ran the build: its process is
// contained like the steps (own session and process group, the job's
// cgroup or token) and dies with that gantry; the record it leaves is then
// removed by the next sweep (SweepPreviews) of a gantry on the same host.
type PreviewConfig struct {
	Max int           // previews running at once, all runners together; 0 is 5
	TTL time.Duration // when the plan sets no ttl; 0 is 4h
	// URL is the address announced for job N's preview; nil: /preview/N/.
	URL   func(job int64) string
	Ready time.Duration // how long the app may take to listen; 0 is 60s
	Now   func() time.Time
}

func (c PreviewConfig) withDefaults() PreviewConfig {
	if c.Max <= 0 {
		c.Max = 5
	}
	if c.TTL <= 0 {
		c.TTL = 4 * time.Hour
	}
	if c.URL == nil {
		c.URL = func(job int64) string { return "/preview/" + strconv.FormatInt(job, 10) + "/" }
	}
	if c.Ready <= 0 {
		c.Ready = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// kept is a running local preview: its app's processes and its workspace.
type kept struct {
	box    box
	ws     *workspace
	exited chan struct{}
}

// previewOwner names this gantry process in a local preview's record.
func (r *Runner) previewOwner() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d.%d", host, r.self.pid, r.self.start)
}

// keepPreview starts the plan's preview app in the workspace after the
// steps succeeded, records it and announces it. It returns true when the
// workspace now belongs to the preview. What goes wrong is said in the
// thread and does not change how the build ended.
func (r *Runner) keepPreview(ctx context.Context, x *jobs.Execution, ws *workspace, env []string, logger *slog.Logger) bool {
	pv, cfg := x.Job.Plan.Preview, r.previews
	note := func(text say.Text) { _ = x.Note(context.WithoutCancel(ctx), text) }
	if cfg == nil {
		note(say.F("no preview: the local runner keeps none here (set previews: in the server config)"))
		return false
	}
	port, err := freePort()
	if err != nil {
		logger.Error("pick a port for the preview", "err", err)
		note(say.F("no preview: internal error (see log, job #%d)", x.Job.ID))
		return false
	}
	ttl := pv.TTL
	if ttl <= 0 {
		ttl = cfg.TTL
	}
	rec := rdb.Preview{Job: x.Job.ID, Runner: "local", Addr: "127.0.0.1:" + strconv.Itoa(port), Owner: r.previewOwner(),
		Repo: x.Job.Repo, PR: x.Job.PR, By: x.Job.Requester, Expires: cfg.Now().Add(ttl)}
	recs := x.Store().Previews()
	ok, err := recs.Open(ctx, rec, cfg.Max)
	if err != nil {
		logger.Error("record the preview", "err", err)
		note(say.F("no preview: internal error (see log, job #%d)", x.Job.ID))
		return false
	}
	if !ok {
		note(say.F("no preview: %d previews already run, the most gantry keeps at once (previews.max); `stop #N` one of them (see `envs`)", cfg.Max))
		return false
	}
	k, err := r.startPreview(x.Job.ID, pv.Run, ws, append(env, "PORT="+strconv.Itoa(port)))
	if err == nil {
		err = waitListening(ctx, rec.Addr, cfg.Ready, k.exited)
	}
	if err != nil {
		logger.Error("start the preview", "err", err)
		if k != nil {
			r.endKept(k, logger)
		}
		_, _, _ = recs.Close(context.WithoutCancel(ctx), x.Job.ID)
		note(say.F("no preview: its app did not start listening on $PORT: %s", err.Error()))
		return true // endKept removed the workspace, or startPreview failed before it was the preview's
	}
	r.mu.Lock()
	if r.kept == nil {
		r.kept = map[int64]*kept{}
	}
	if old := r.kept[x.Job.ID]; old != nil {
		defer r.endKept(old, logger)
	}
	r.kept[x.Job.ID] = k
	r.mu.Unlock()
	go r.watchKept(x.Store(), x.Job.ID, k, logger)
	note(say.F("preview running until %s: %s (`stop #%d` ends it)", rec.Expires.UTC().Format("15:04 UTC"), cfg.URL(x.Job.ID), x.Job.ID))
	return true
}

// startPreview starts run in its own session, contained in a box of its
// own, its output in preview.log beside the source.
func (r *Runner) startPreview(job int64, run string, ws *workspace, env []string) (*kept, error) {
	token := newToken(r.self)
	env = append(env, tokenVar+"="+token) // last: the preview's own token
	b, err := r.newBox(job, token)
	if err != nil {
		return nil, err
	}
	out, err := os.Create(filepath.Join(ws.dir, "preview.log"))
	if err != nil {
		_ = b.close()
		return nil, fmt.Errorf("make preview log: %w", err)
	}
	defer out.Close()
	cmd := exec.Command("bash", "-c", run)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = ws.src(), env, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Pdeathsig: syscall.SIGKILL, Credential: r.user.credential()}
	if err := b.prepare(cmd.SysProcAttr); err != nil {
		_ = b.close()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = b.close()
		return nil, fmt.Errorf("start preview: %w", err)
	}
	b.started(cmd.Process.Pid)
	k := &kept{box: b, ws: ws, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(k.exited) }()
	return k, nil
}

// watchKept closes the record of a preview whose app ended by itself.
func (r *Runner) watchKept(recs interface {
	Previews() *rdb.Previews
}, job int64, k *kept, logger *slog.Logger) {
	<-k.exited
	r.mu.Lock()
	mine := r.kept[job] == k
	r.mu.Unlock()
	if mine {
		logger.Info("preview app ended by itself", "job", job)
		r.EndPreview(job)
		_, _, _ = recs.Previews().Close(context.Background(), job)
	}
}

// endKept ends a preview's processes and removes its workspace.
func (r *Runner) endKept(k *kept, logger *slog.Logger) {
	k.box.signal(syscall.SIGTERM)
	select {
	case <-k.exited:
	case <-time.After(r.cfg.Grace):
	}
	if err := k.box.close(); err != nil {
		logger.Error("end the preview's processes", "err", err)
	}
	<-k.exited
	if err := k.ws.remove(); err != nil {
		logger.Error("remove preview workspace", "dir", k.ws.dir, "err", err)
	}
}

// StopPreview ends the preview p whose record was closed, if this process
// runs it; a local preview of another gantry ends at that one's next sweep.
func (r *Runner) StopPreview(ctx context.Context, p rdb.Preview) {
	if p.Runner == "local" && p.Owner == r.previewOwner() {
		r.EndPreview(p.Job)
	}
}

// EndPreview ends job's preview if this process runs it, and reports
// whether it did. It does not touch the record: the caller closed it.
func (r *Runner) EndPreview(job int64) bool {
	r.mu.Lock()
	k := r.kept[job]
	delete(r.kept, job)
	r.mu.Unlock()
	if k == nil {
		return false
	}
	r.endKept(k, r.logger.With("job", job))
	return true
}

// SweepPreviews ends the previews this process runs whose record is gone
// (stopped, expired, or closed by a PR), and removes the records of local
// previews whose owning gantry on this host is no longer running.
func (r *Runner) SweepPreviews(ctx context.Context, recs *rdb.Previews) error {
	ids := r.keptIDs()
	for _, id := range ids {
		p, ok, err := recs.Get(ctx, id)
		if err != nil {
			return err
		}
		if !ok || p.Owner != r.previewOwner() {
			r.EndPreview(id)
		}
	}
	all, err := recs.List(ctx)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	for _, p := range all {
		if p.Runner != "local" || p.Owner == r.previewOwner() {
			continue
		}
		hostPart, rest, found := strings.Cut(p.Owner, "/")
		if !found || hostPart != host {
			continue
		}
		if o, ok := tokenOwner(rest + ".x"); ok && !o.alive() {
			_, _, _ = recs.Close(ctx, p.Job)
		}
	}
	return nil
}

// keptIDs are the jobs whose previews this process runs.
func (r *Runner) keptIDs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Collect(maps.Keys(r.kept))
}

// ClosePreviews ends every preview this process runs and removes their
// records, at shutdown: a local preview does not outlive its gantry.
func (r *Runner) ClosePreviews(ctx context.Context, recs *rdb.Previews) {
	ids := r.keptIDs()
	for _, id := range ids {
		if r.EndPreview(id) {
			_, _, _ = recs.Close(ctx, id)
		}
	}
}

// freePort asks the kernel for a port no one listens on.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections, the app exits, or
// within passes.
func waitListening(ctx context.Context, addr string, within time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("the app exited")
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s", addr, within)
		}
	}
}
