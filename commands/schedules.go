package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/spec"
)

// Scheduler starts the jobs of the server config's schedules at their
// ticks. Any number of gantry processes may run one on the same Redis: a
// tick is taken by one of them (rdb.Schedules.Take). After downtime the
// latest missed tick runs once; a tick whose previous run has not ended
// starts nothing and says so in `schedules`.
type Scheduler struct {
	s       *Service
	state   *rdb.Schedules
	now     func() time.Time
	poll    time.Duration
	refresh time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	fromFiles []spec.Schedule // those of the repos' default branches' .gantry.yml
	readAt    time.Time       // when they were read; zero: never
	readFrom  *spec.Server    // the server config they were read under
}

// SchedulerConfig configures a Scheduler. Zero values are the defaults.
type SchedulerConfig struct {
	Now  func() time.Time // the clock ticks are read from; nil is the service's
	Poll time.Duration    // how often due ticks are looked for; 0 is 5 s
	// Refresh is how often the schedules of the repos' .gantry.yml (on
	// their default branches) are read again; 0 is 5 minutes.
	Refresh time.Duration
}

// Scheduler returns the scheduler of the server config's schedules, which
// keeps how far each has run in state. Until it is made, `schedules`
// answers that none run here.
func (s *Service) Scheduler(state *rdb.Schedules, cfg SchedulerConfig) *Scheduler {
	sc := &Scheduler{s: s, state: state, now: cfg.Now, poll: cfg.Poll, refresh: cfg.Refresh, log: s.logger}
	if sc.refresh <= 0 {
		sc.refresh = 5 * time.Minute
	}
	if sc.now == nil {
		sc.now = s.now
	}
	if sc.poll <= 0 {
		sc.poll = 5 * time.Second
	}
	s.scheduler = sc
	return sc
}

// Run looks for due ticks every poll interval until ctx ends.
func (sc *Scheduler) Run(ctx context.Context) error {
	t := time.NewTicker(sc.poll)
	defer t.Stop()
	for {
		if err := sc.Tick(ctx); err != nil && ctx.Err() == nil {
			sc.log.Warn("schedules: could not look for due ticks", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// maxCatchUp bounds the walk from a schedule's last tick to the latest
// one due: a schedule every minute catches up on about a week of downtime;
// beyond that it starts counting again from now.
const maxCatchUp = 10_000

// Tick starts the jobs of every schedule with a tick due now that no
// process has taken yet. The errors of all schedules are joined.
func (sc *Scheduler) Tick(ctx context.Context) error {
	ctx = sc.s.pin(ctx) // one config for the whole pass, whatever a reload does meanwhile
	sc.readFiles(ctx)
	var errs []error
	for _, s := range sc.all(ctx) {
		if err := sc.tick(ctx, s); err != nil {
			errs = append(errs, fmt.Errorf("schedule %s: %w", s.Name, err))
		}
	}
	return errors.Join(errs...)
}

func (sc *Scheduler) tick(ctx context.Context, s spec.Schedule) error {
	now := sc.now()
	st, err := sc.state.State(ctx, s.Name)
	if err != nil {
		return err
	}
	if st.Tick.IsZero() {
		return sc.state.Begin(ctx, s.Name, now)
	}
	due := latestTick(s, st.Tick, now)
	if due.IsZero() {
		return nil
	}
	taken, err := sc.state.Take(ctx, s.Name, due)
	if err != nil || !taken {
		return err
	}
	log := sc.log.With("schedule", s.Name, "tick", due)
	if st.Job != 0 {
		if prev, err := sc.s.store.Get(ctx, st.Job); err == nil && !prev.State.Final() {
			note := fmt.Sprintf("skipped the tick of %s: %s is still %s", clock(due), prev.Name(), prev.State)
			log.Info("schedule tick skipped: its previous run has not ended", "job", st.Job)
			return sc.state.Skipped(ctx, s.Name, st.Job, note, now)
		}
	}
	id, err := sc.s.startScheduled(ctx, s)
	if err != nil {
		var ue *jobs.UserError
		if errors.As(err, &ue) {
			log.Warn("schedule tick started nothing", "why", ue.Msg.String())
			return sc.state.Skipped(ctx, s.Name, 0, fmt.Sprintf("the tick of %s started nothing: %s", clock(due), ue.Msg.String()), now)
		}
		return err
	}
	log.Info("schedule started a job", "job", id)
	return sc.state.Started(ctx, s.Name, id)
}

// all are the server config's schedules, as it is now, and those of the
// repos' files.
func (sc *Scheduler) all(ctx context.Context) []spec.Schedule {
	list := sc.s.cfg(ctx).Schedules
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return append(slices.Clone(list), sc.fromFiles...)
}

// readFiles reads the schedules of every configured repo's .gantry.yml on
// its default branch, when they are older than the refresh interval or the
// server config was reloaded since. A repo whose file cannot be read keeps
// the schedules read before.
func (sc *Scheduler) readFiles(ctx context.Context) {
	now, cfg := sc.now(), sc.s.cfg(ctx)
	sc.mu.Lock()
	// A reloaded server config may have other repos, or other channels.
	due := sc.readAt.IsZero() || now.Sub(sc.readAt) >= sc.refresh || cfg != sc.readFrom
	prev := sc.fromFiles
	sc.mu.Unlock()
	if !due {
		return
	}
	var out []spec.Schedule
	for _, repo := range slices.Sorted(maps.Keys(cfg.Repos)) {
		got, err := sc.readFile(ctx, repo)
		if err != nil {
			sc.log.Warn("schedules: cannot read the repo's .gantry.yml; keeping its schedules as they were", "repo", repo, "err", err)
			for _, p := range prev {
				if p.Repo == repo {
					out = append(out, p)
				}
			}
			continue
		}
		out = append(out, got...)
	}
	sc.mu.Lock()
	sc.fromFiles, sc.readAt, sc.readFrom = out, now, cfg
	sc.mu.Unlock()
}

// readFile reads the schedules of repo's .gantry.yml on its default
// branch, named REPO/NAME and shown in the repo's channel.
func (sc *Scheduler) readFile(ctx context.Context, repo string) ([]spec.Schedule, error) {
	src, err := sc.s.sources.Resolve(ctx, repo, "", false)
	if err != nil {
		return nil, err
	}
	f, err := src.Parse()
	if err != nil {
		return nil, err
	}
	channel := sc.s.cfg(ctx).Repos[repo].Channel
	var out []spec.Schedule
	for _, s := range f.Schedules {
		if channel == "" {
			sc.log.Warn("schedules: a .gantry.yml schedule of a repo with no channel does not run", "repo", repo, "schedule", s.Name)
			continue
		}
		s.Name, s.Repo, s.Channel = repo+"/"+s.Name, repo, channel
		out = append(out, s)
	}
	return out, nil
}

// latestTick is the last tick of s after last and not after now; zero when
// none is due.
func latestTick(s spec.Schedule, last, now time.Time) time.Time {
	var due time.Time
	for i, t := 0, s.Next(last); !t.After(now); i, t = i+1, s.Next(t) {
		due = t
		if i == maxCatchUp {
			break
		}
	}
	return due
}

// startScheduled queues what one tick of s does, as the server config's
// request: no person asked, so nobody's permissions are checked, but a
// deploy still waits for approval and for the environment's lock.
func (s *Service) startScheduled(ctx context.Context, sc spec.Schedule) (int64, error) {
	r := &Request{Auto: "schedule", Channel: sc.Channel}
	c := &Command{Repo: sc.Repo, Ref: sc.Ref, Pipeline: sc.Pipeline, Env: sc.Deploy}
	var (
		reply Reply
		err   error
	)
	if sc.Deploy != "" {
		c.Verb = VerbDeploy
		reply, err = s.deploy(ctx, r, c)
	} else {
		c.Verb = VerbRun
		reply, err = s.run(ctx, r, c)
	}
	if err != nil {
		return 0, err
	}
	if reply.Job == 0 {
		return 0, jobs.Userf("%s", reply.Text.String())
	}
	return reply.Job, nil
}

// schedules lists each schedule: what it does, when it runs next and how
// its latest tick went.
func (s *Service) schedules(ctx context.Context, r *Request, c *Command) (Reply, error) {
	sc := s.scheduler
	var list []spec.Schedule
	if sc != nil {
		list = sc.all(ctx)
	}
	if len(list) == 0 {
		return Reply{Text: "No schedules: they are set under schedules: in the server config (gantry.yml) or in a repo's .gantry.yml on its default branch.", Ephemeral: true}, nil
	}
	now := sc.now()
	text := say.F("%d schedule(s):", len(list))
	for _, one := range list {
		st, err := sc.state.State(ctx, one.Name)
		if err != nil {
			return Reply{}, err
		}
		text += say.F("\n• %s: %s, cron %s in %s; next %s; last: %s", one.Name, one.What(), one.Cron, one.Location.String(), clock(one.Next(now)), s.lastResult(ctx, st))
	}
	return Reply{Text: text, Ephemeral: true}, nil
}

// lastResult says how a schedule's latest tick went.
func (s *Service) lastResult(ctx context.Context, st rdb.ScheduleState) string {
	switch {
	case st.Note != "":
		return st.Note
	case st.Job == 0:
		return "none yet"
	}
	j, err := s.store.Get(ctx, st.Job)
	if err != nil {
		return fmt.Sprintf("#%d", st.Job)
	}
	return fmt.Sprintf("%s %s", j.Name(), j.State)
}
