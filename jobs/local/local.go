// Package local runs jobs on the machine gantry runs on: the runner for
// development, the console, and small installations of trusted code. As
// root, steps run as an unprivileged user; each job's processes are held in
// a cgroup (or tracked through /proc), so that cancel, timeout and shutdown
// end all of them, and Sweep ends what a killed gantry left behind.
package local

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/jobs"

	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/spec"
)

// Config configures the local runner. Zero values are the defaults.
type Config struct {
	// WorkDir is where workspaces are made; "" is the system temp dir.
	// Steps running as User must be able to reach it (as they can /tmp).
	WorkDir string
	Grace   time.Duration // between SIGTERM and SIGKILL on cancel and timeout; 0 is 5s
	// GitHubToken authenticates clones of GitHub repositories. It is given
	// to git through its environment, never on a command line, and is not
	// kept in the clone.
	GitHubToken string
	// PassEnv names variables of gantry's own environment that steps see
	// (besides PATH, HOME, LANG, TZ, USER). Nothing else leaks in.
	PassEnv []string
	// User (runner.local.user) is who runs the steps when gantry runs as
	// root: the user's uid and primary gid, no supplementary groups, with
	// src, HOME and TMPDIR in a workspace the user owns. A user that does
	// not exist makes Check and Run fail. Only root can switch users, so
	// when gantry is not root User is ignored and steps run as gantry's own
	// user, with its HOME. "" runs steps as gantry's user, root included.
	User string
	// CgroupParent is the cgroup v2 directory in which each job gets a
	// cgroup of its own, so that all of its processes can be ended. "" is
	// the cgroup gantry runs in. "none", or a directory where gantry may not
	// make cgroups, makes gantry a child subreaper that finds a job's
	// processes through /proc instead (see reaper.go).
	CgroupParent string
	// Artifacts stores the files a job's plan keeps (artifacts:); nil
	// keeps none, and the log says so.
	Artifacts artifacts.Saver
	Limits    artifacts.Limits // how many artifacts a job keeps
	// Previews keeps the apps of builds whose plan has preview: running
	// (preview.go); nil keeps none, and the thread says so.
	Previews *PreviewConfig
	Logger   *slog.Logger
}

// Runner runs each step with bash in a session of its own, its processes
// held in a cgroup or tracked through /proc so that none outlives the job.
type Runner struct {
	cfg     Config
	logger  *slog.Logger
	user    *stepUser // nil: steps run as gantry's own user
	userErr error
	self    owner
	selfErr error
	cgroups string // where job cgroups are made; "" when tracked through /proc

	previews *PreviewConfig // nil: none kept
	mu       sync.Mutex
	kept     map[int64]*kept // the previews this process runs, by job
}

// New returns a local runner. It finds out how jobs can be contained: when
// no cgroup can be made it makes this process a child subreaper.
func New(cfg Config) *Runner {
	if cfg.Grace <= 0 {
		cfg.Grace = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	r := &Runner{cfg: cfg, logger: cfg.Logger}
	if cfg.Previews != nil {
		pc := cfg.Previews.withDefaults()
		r.previews = &pc
	}
	r.user, r.userErr = lookupStepUser(cfg.User, os.Geteuid())
	if cfg.User != "" && os.Geteuid() != 0 {
		r.logger.Info("runner.local.user is ignored: gantry is not root, so steps run as its own user", "user", cfg.User)
	}
	r.self, r.selfErr = currentOwner()
	r.cgroups = r.containment()
	return r
}

// containment returns the cgroup job cgroups go in, or "" after making
// this process a subreaper.
func (r *Runner) containment() string {
	if r.cfg.CgroupParent != "none" {
		dir, err := cgroupParent(r.cfg.CgroupParent)
		if err == nil {
			return dir
		}
		level := slog.LevelInfo
		if r.cfg.CgroupParent != "" {
			level = slog.LevelWarn // asked for, and not there
		}
		r.logger.Log(context.Background(), level, "local jobs get no cgroup; their processes are tracked through /proc", "reason", err)
	}
	if err := becomeSubreaper(); err != nil {
		r.logger.Warn("local jobs: orphans of steps go to init", "err", err)
	}
	return ""
}

// Check returns what keeps the runner from running any job (a
// runner.local.user that does not exist), so that serve can refuse to
// start rather than fail each job.
func (r *Runner) Check() error {
	if r.userErr != nil {
		return r.userErr
	}
	if r.selfErr != nil {
		return fmt.Errorf("local runner: %w", r.selfErr)
	}
	return nil
}

// Run checks the source out into a fresh workspace and runs the plan's
// steps in order, stopping at the first that fails.
func (r *Runner) Run(ctx context.Context, x *jobs.Execution) (int, error) {
	j := x.Job
	if len(j.Plan.Services) > 0 {
		names := make([]string, len(j.Plan.Services))
		for i, s := range j.Plan.Services {
			names[i] = s.Name
		}
		return 0, jobs.Permanent(jobs.Userf("the local runner cannot start services (%s); run this job on the ecs runner", strings.Join(names, ", ")))
	}
	if err := r.Check(); err != nil {
		return 0, err
	}
	logger := r.logger.With("job", j.ID)
	ws, err := makeWorkspace(r.cfg.WorkDir, j.ID)
	if err != nil {
		return 0, err
	}
	keptWS := false // the workspace went to a preview
	defer func() {
		if keptWS {
			return
		}
		if err := ws.remove(); err != nil {
			logger.Error("remove workspace", "dir", ws.dir, "err", err)
		}
	}()
	if err := r.checkout(ctx, j, ws.src(), x.Log); err != nil {
		return 0, err
	}
	if err := ws.handTo(r.user); err != nil {
		return 0, fmt.Errorf("job #%d: %w", j.ID, err)
	}
	token := newToken(r.self)
	b, err := r.newBox(j.ID, token)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err := b.close(); err != nil {
			logger.Error("end the processes of the job", "err", err)
		}
	}()
	code, err := r.steps(ctx, x, b, ws, r.environ(x.StepEnv(), ws, token), logger)
	if err != nil || ctx.Err() != nil {
		return code, err // errored or cancelled: nothing is collected
	}
	r.results(ctx, x, ws.src(), logger)
	if code == 0 && j.Plan.Preview != nil {
		env := r.environ(x.StepEnv(), ws, token)
		keptWS = r.keepPreview(ctx, x, ws, env[:len(env)-1], logger) // without the steps' token
	}
	return code, nil
}

// results reads the job's test reports and keeps its artifacts, after the
// steps, whether they succeeded or not. What goes wrong here is said in
// the log and does not change how the job ended.
func (r *Runner) results(ctx context.Context, x *jobs.Execution, src string, logger *slog.Logger) {
	p := x.Job.Plan
	if len(p.Artifacts) == 0 && len(p.Reports.JUnit) == 0 {
		return
	}
	say := func(line string) { x.Log.Line("── " + line) }
	var saver artifacts.Saver
	if r.cfg.Artifacts != nil {
		saver = r.cfg.Artifacts
	}
	res, err := artifacts.Gather(ctx, x.Job.ID, src, artifacts.Plan{Artifacts: p.Artifacts, JUnit: p.Reports.JUnit},
		r.cfg.Limits, saver, "artifacts are not kept: gantry has no place for them (set artifacts: in the server config)", say)
	if err != nil {
		logger.Error("collect artifacts", "err", err)
		say("artifacts could not be kept: " + err.Error())
		res.Notes = append(res.Notes, "artifacts could not be kept: "+err.Error())
	}
	if err := x.Results(context.WithoutCancel(ctx), res); err != nil {
		logger.Error("record job results", "err", err)
	}
}

// newBox makes what holds the job's processes: a cgroup, or a tracker.
func (r *Runner) newBox(job int64, token string) (box, error) {
	if r.cgroups == "" {
		return newReaperBox(token), nil
	}
	return newCgroupBox(r.cgroups, job, token)
}

func (r *Runner) steps(ctx context.Context, x *jobs.Execution, b box, ws *workspace, env []string, logger *slog.Logger) (int, error) {
	j := x.Job
	timeout := cmp.Or(j.Plan.Timeout, spec.DefaultTimeout)
	stepCtx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	for i, st := range j.Plan.Steps {
		if err := x.StepStarted(ctx, i+1); err != nil {
			return 0, err
		}
		began := time.Now()
		code, err := r.step(stepCtx, b, st.Run, ws.src(), env, x.Log, logger)
		if err != nil {
			return 0, fmt.Errorf("step %d of job #%d: %w", i+1, j.ID, err)
		}
		if errors.Is(context.Cause(stepCtx), errTimeout) && ctx.Err() == nil {
			msg := fmt.Sprintf("timed out after %s (the plan's timeout)", timeout)
			x.Log.Line("── " + msg)
			_ = x.Note(ctx, say.F("step %d %s", i+1, msg))
			// Whatever the signal made of the step's status (143 after
			// SIGTERM, 137 after SIGKILL), a timeout is 124 as on ECS and
			// as timeout(1) has it, so the same job ends the same on both.
			code = jobs.TimeoutExitCode
		}
		if err := x.StepEnded(ctx, i+1, code, time.Since(began)); err != nil {
			return 0, err
		}
		if ctx.Err() != nil {
			return code, nil // cancelled; the worker reads the cause
		}
		if code != 0 {
			return code, nil
		}
	}
	return 0, nil
}

var errTimeout = errors.New("job timed out")

// environ is all a step sees of the environment: a few of gantry's own
// variables, its workspace, the plan's and gantry's variables, and the
// job's token, which marks every process of the job.
func (r *Runner) environ(stepEnv map[string]string, ws *workspace, token string) []string {
	pass := append([]string{"PATH", "HOME", "LANG", "TZ", "USER"}, r.cfg.PassEnv...)
	var env []string
	for _, k := range pass {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	env = append(env, "TMPDIR="+ws.tmp(), "CI=true", "GANTRY=1")
	if r.user != nil {
		env = append(env, "HOME="+ws.home(), "USER="+r.user.name, "LOGNAME="+r.user.name)
	}
	keys := make([]string, 0, len(stepEnv))
	for k := range stepEnv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+stepEnv[k])
	}
	// Last, so that no plan replaces it (os/exec keeps the last of a name).
	return append(env, tokenVar+"="+token)
}
