package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/pool"
	"github.com/gantry-ci/gantry/say"
)

// Leaser is what the gates need of a set of pools.
type Leaser interface {
	Acquire(ctx context.Context, names []string, holder string, onWait func(pool string, position int)) ([]pool.Lease, error)
	Keepalive(ctx context.Context, holder string)
	Release(ctx context.Context, holder string) error
}

// Holder is how a job is named as a pool holder.
func Holder(id int64) string { return fmt.Sprintf("job:%d", id) }

// Ordinal writes 1st, 2nd, 3rd, 4th….
func Ordinal(n int) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}

// wait moves the job to waiting with a reason, announced in its thread.
func (x *Execution) wait(ctx context.Context, reason say.Text) error {
	if x.Job.State == Waiting && x.Job.Reason == reason {
		return nil
	}
	_, err := x.store.Transition(ctx, x.Job.ID, Change{
		From: []State{Queued, Waiting, Running}, To: Waiting, Text: reason, Set: Set().Reason(reason),
	})
	if err != nil {
		return err
	}
	x.Job.State, x.Job.Reason = Waiting, reason
	x.park()
	return nil
}

// hold keeps holder's leases alive until the returned func is called; it
// then releases them, or with keep only stops renewing them, so that the
// next worker to take the job (the same holder) finds them still its own.
func hold(ctx context.Context, l Leaser, holder string) func(keep bool) {
	kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	go l.Keepalive(kctx, holder)
	return func(keep bool) {
		stop()
		if keep {
			return
		}
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.Release(rctx, holder)
	}
}

// takeInLine leases a member of each of pools for the job through l,
// waiting its turn: each change of place moves the job to waiting with
// the reason said, giving its worker slot back. It returns the leases and
// the func that keeps them alive until called (see hold).
func takeInLine(ctx context.Context, x *Execution, l Leaser, pools []string, said func(pool string, pos int) say.Text) ([]pool.Lease, func(keep bool), error) {
	holder := Holder(x.Job.ID)
	var werr error
	leases, err := l.Acquire(ctx, pools, holder, func(p string, pos int) {
		if e := x.wait(ctx, said(p, pos)); e != nil && werr == nil {
			werr = e
		}
	})
	if err != nil {
		return nil, nil, err
	}
	leave := hold(ctx, l, holder)
	if werr != nil {
		leave(false)
		return nil, nil, werr
	}
	return leases, leave, nil
}

// ResourceGate leases one member of each pool a job's plan names, for the
// job's whole life, and tells the steps which: GANTRY_RESOURCE_MYSQL=mysql-2.
type ResourceGate struct {
	Pools Leaser // nil: the server has no pools
	// Known reports whether the server has a pool; nil is every pool
	// Pools has.
	Known func(pool string) bool
}

// Enter takes the job's resources, waiting its turn.
func (g *ResourceGate) Enter(ctx context.Context, x *Execution) (func(keep bool), error) {
	names := x.Job.Plan.Resources
	if len(names) == 0 {
		return nil, nil
	}
	// Waiting or retrying cannot mend a pool this process does not have:
	// the job says why and ends. (ConfigGate has said so already where
	// gantry.yml lacks it; here only the pools this process started with
	// may.)
	for _, p := range names {
		if g.Pools == nil || (g.Known != nil && !g.Known(p)) {
			return nil, Permanent(Userf("nothing ran: this job's .gantry.yml leases from pool %q, which this gantry process has no pool for (it reads the pools of gantry.yml when it starts)", p))
		}
	}
	leases, leave, err := takeInLine(ctx, x, g.Pools, names, func(p string, pos int) say.Text {
		return say.F("waiting for %s (%s in line)", p, Ordinal(pos))
	})
	if errors.Is(err, pool.ErrUnknownPool) {
		return nil, Permanent(&UserError{Msg: say.F("nothing ran: this gantry process cannot lease what this job's .gantry.yml asks for: %s (it reads the pools of gantry.yml when it starts)", err), Err: err})
	}
	if err != nil {
		return nil, err
	}
	for _, l := range leases {
		x.Env["GANTRY_RESOURCE_"+envName(l.Pool)] = l.Member
		x.Log.Line(fmt.Sprintf("── leased %s from pool %s", l.Member, l.Pool))
	}
	return leave, nil
}

// envName turns a pool name into the tail of a variable name.
func envName(pool string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(pool))
}

// EnvGate lets one deploy at a time into each environment, in order of
// arrival, and holds deploys back while someone else holds the
// environment's lock (its holder's own deploys go through).
type EnvGate struct {
	Slots Leaser            // one pool per environment, one member each
	Known func(string) bool // whether Slots has a pool for the environment
	Poll  time.Duration     // how often a lock is looked at again; 0 is 2s
}

// Enter waits for the environment to be free for this deploy.
func (g *EnvGate) Enter(ctx context.Context, x *Execution) (func(keep bool), error) {
	j := x.Job
	if j.Kind != Deploy || j.Env == "" {
		return nil, nil
	}
	poll := g.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	for {
		if err := g.waitUnlocked(ctx, x, poll); err != nil {
			return nil, err
		}
		if g.Known == nil || !g.Known(j.Env) {
			return nil, nil // an environment only the console knows: no queue to keep
		}
		_, leave, err := takeInLine(ctx, x, g.Slots, []string{j.Env}, func(_ string, pos int) say.Text {
			return say.F("waiting for %s: another deploy is in progress (%s in line)", j.Env, Ordinal(pos))
		})
		if err != nil {
			return nil, err
		}
		// Someone may have locked the environment while we queued.
		if l, err := x.store.EnvLock(ctx, j.Env); err == nil && (l == nil || l.Holder == j.Requester) {
			return leave, nil
		}
		leave(false)
	}
}

func (g *EnvGate) waitUnlocked(ctx context.Context, x *Execution, poll time.Duration) error {
	if x.Job.Handle != "" {
		return nil // re-attaching to a deploy that already runs: a later lock does not stop it
	}
	for {
		l, err := x.store.EnvLock(ctx, x.Job.Env)
		if err != nil {
			return err
		}
		if l == nil || l.Holder == x.Job.Requester {
			return nil
		}
		var why say.Text
		if l.Why != "" {
			why = ": " + l.Why
		}
		reason := say.F("waiting: %s is locked by %s%s", x.Job.Env, say.PersonOf(l.Holder), why)
		if err := x.wait(ctx, reason); err != nil {
			return err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// AfterGate holds a job that follows a build (Job.After: the deploy a push
// started waits for that push's build) until the build ends. The job goes
// on when the build succeeded and ends cancelled, saying why, when it did
// not.
type AfterGate struct {
	Poll time.Duration // how often the build is looked at; 0 is 2s
}

// Enter waits for the build the job follows.
func (g *AfterGate) Enter(ctx context.Context, x *Execution) (func(keep bool), error) {
	id := x.Job.After
	if id == 0 || x.Job.Handle != "" {
		return nil, nil // nothing to follow, or re-attaching to a job that runs already
	}
	poll := g.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	for {
		b, err := x.store.Get(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			return nil, &CancelError{Why: say.F("build #%d, which it follows, is gone", id)}
		case err != nil:
			return nil, err
		case b.State == Succeeded:
			x.Log.Line(fmt.Sprintf("── build #%d of %s succeeded", id, b.ShortSHA()))
			return nil, nil
		case b.State.Final():
			return nil, &CancelError{Why: say.F("build %s, which it follows, %s", say.Text(b.Name()), say.Text(b.State))}
		}
		if err := x.wait(ctx, say.F("waiting for build %s to succeed", say.Text(b.Name()))); err != nil {
			return nil, err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// RepoGate lets at most a repo's concurrency: of its builds run at once;
// the others wait in line, in order of arrival, and say their place.
// Deploys pass: each environment takes one at a time already.
type RepoGate struct {
	Slots Leaser                // one pool per limited repo (RepoPool), with Limit members
	Limit func(repo string) int // the repo's concurrency; 0: no limit
}

// RepoPool names the pool of a limited repo's running builds.
func RepoPool(repo string) string { return "repo-" + repo }

// Enter waits for one of the repo's places.
func (g *RepoGate) Enter(ctx context.Context, x *Execution) (func(keep bool), error) {
	j := x.Job
	if j.Kind != Build || g.Slots == nil || g.Limit == nil {
		return nil, nil
	}
	limit := g.Limit(j.Repo)
	if limit <= 0 {
		return nil, nil
	}
	_, leave, err := takeInLine(ctx, x, g.Slots, []string{RepoPool(j.Repo)}, func(_ string, pos int) say.Text {
		return say.F("waiting: %s runs at most %d build(s) at once (%s in line)", j.Repo, limit, Ordinal(pos))
	})
	return leave, err
}
