package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/say"
)

// Lock is someone's hold on an environment: while it stands, other people's
// deploys there wait. It lapses by itself at Expires.
type Lock struct {
	Env     string
	Holder  string
	Why     say.Text // why it is held, as its holder said it
	Since   time.Time
	Expires time.Time // zero: a lock from before locks lapsed, which stands until unlocked
	Channel string    // where it was taken: where its reminder and its end are said
	Thread  string    // the thread it was taken in, if any
}

// Lapsed reports whether the lock has run out at now.
func (l *Lock) Lapsed(now time.Time) bool { return !l.Expires.IsZero() && !now.Before(l.Expires) }

// LockRequest asks for a lock on Env.
type LockRequest struct {
	Env, Holder     string
	Why             say.Text
	For             time.Duration // how long it stands (more than zero)
	Channel, Thread string
}

// RemindBefore is how long before a lock of ttl lapses its holder is
// reminded: a sixth of it, at most 10 minutes.
func RemindBefore(ttl time.Duration) time.Duration { return min(ttl/6, 10*time.Minute) }

// LockEnv takes the lock on r.Env for r.Holder until r.For from now
// (taking it again updates the reason and the expiry; a lapsed lock of
// another is taken over). It returns the lock that stands and whether the
// holder has it.
func (s *Store) LockEnv(ctx context.Context, r LockRequest) (Lock, bool, error) {
	if r.For <= 0 {
		return Lock{}, false, fmt.Errorf("lock %s: no expiry", r.Env)
	}
	now := s.now()
	expires := now.Add(r.For)
	l, ok, err := s.envs.Lock(ctx, rdb.NewLock{Env: r.Env, Holder: r.Holder, Why: string(r.Why), Now: now,
		Expires: expires, RemindAt: expires.Add(-RemindBefore(r.For)), Channel: r.Channel, Thread: r.Thread})
	if err != nil {
		return Lock{}, false, fmt.Errorf("lock %s: %w", r.Env, err)
	}
	return lockOf(r.Env, l), ok, nil
}

func lockOf(env string, l rdb.Lock) Lock {
	return Lock{Env: env, Holder: l.Holder, Why: say.Text(l.Why), Since: l.Since, Expires: l.Expires, Channel: l.Channel, Thread: l.Thread}
}

// ErrNotHolder is returned when someone who does not hold a lock tries to
// unlock it without force.
var ErrNotHolder = errors.New("lock is held by someone else")

// Unlocked says what an unlock did.
type Unlocked struct {
	Holder string // who held the lock; "" when none stood
	Lapsed bool   // it had run out already (and is now gone)
}

// UnlockEnv frees env. Only its holder may, or an admin with force. It
// returns who held it, with ErrNotHolder when someone else holds it and
// force is not set.
func (s *Store) UnlockEnv(ctx context.Context, env, by string, force bool) (Unlocked, error) {
	r, err := s.envs.Unlock(ctx, env, by, force, s.now())
	if err != nil {
		return Unlocked{}, fmt.Errorf("unlock %s: %w", env, err)
	}
	if r.Refused {
		return Unlocked{Holder: r.Holder}, ErrNotHolder
	}
	return Unlocked{Holder: r.Holder, Lapsed: r.Lapsed}, nil
}

// EnvLock returns the lock that stands on env, or nil: a lock that has
// lapsed no longer stands, whether or not a sweep has removed it yet.
func (s *Store) EnvLock(ctx context.Context, env string) (*Lock, error) {
	l, err := s.envs.LockOf(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("read lock of %s: %w", env, err)
	}
	if l.Holder == "" {
		return nil, nil
	}
	lock := lockOf(env, l)
	if lock.Lapsed(s.now()) {
		return nil, nil
	}
	return &lock, nil
}

// ExpireLock removes env's lock if it has lapsed, and returns it; nil when
// there was nothing to remove or another process removed it first.
func (s *Store) ExpireLock(ctx context.Context, env string) (*Lock, error) {
	l, ok, err := s.envs.Expire(ctx, env, s.now())
	if err != nil || !ok {
		return nil, wrapIf(err, "expire lock of "+env)
	}
	lock := lockOf(env, l)
	return &lock, nil
}

// LockReminder returns env's lock when its holder is due a reminder that
// it is about to lapse, once across all processes; nil otherwise.
func (s *Store) LockReminder(ctx context.Context, env string) (*Lock, error) {
	l, ok, err := s.envs.Remind(ctx, env, s.now())
	if err != nil || !ok {
		return nil, wrapIf(err, "remind of the lock of "+env)
	}
	lock := lockOf(env, l)
	return &lock, nil
}

// EnvNames returns every environment that has had a deploy or a lock.
func (s *Store) EnvNames(ctx context.Context) ([]string, error) {
	names, err := s.envs.Names(ctx)
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	return names, nil
}

func wrapIf(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// RecentDeploys returns up to n of the newest deploy jobs to env.
func (s *Store) RecentDeploys(ctx context.Context, env string, n int64) ([]*Job, error) {
	ids, err := s.envs.Deploys(ctx, env, n)
	if err != nil {
		return nil, fmt.Errorf("list deploys to %s: %w", env, err)
	}
	return s.getAll(ctx, ids)
}

// LastSucceededDeploy returns the newest deploy to env that succeeded, or nil.
func (s *Store) LastSucceededDeploy(ctx context.Context, env string) (*Job, error) {
	js, err := s.RecentDeploys(ctx, env, 100)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		if j.State == Succeeded {
			return j, nil
		}
	}
	return nil, nil
}

// AuditEntry is one decision someone made.
type AuditEntry struct {
	At     time.Time
	Who    string
	Action string // request, approve, reject, expire, lock, unlock, release
	Env    string
	Job    int64
	Detail say.Text
}

// Audit records a decision that is not a job transition (a forced pool
// release, a deploy request).
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.audit.Add(ctx, rdb.AuditEntry{At: e.At, Who: e.Who, Action: e.Action, Env: e.Env, Job: e.Job, Detail: string(e.Detail)})
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	return nil
}

// AuditLog returns up to n of the newest entries, for env only when it is
// not "", newest first.
func (s *Store) AuditLog(ctx context.Context, env string, n int) ([]AuditEntry, error) {
	var out []AuditEntry
	before := ""
	for len(out) < n {
		msgs, err := s.audit.Newest(ctx, before, 500)
		if err != nil {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		for _, m := range msgs {
			e := AuditEntry{At: m.At, Who: m.Who, Action: m.Action, Env: m.Env, Job: m.Job, Detail: say.Text(m.Detail)}
			if env == "" || e.Env == env {
				out = append(out, e)
				if len(out) == n {
					break
				}
			}
		}
		if len(msgs) < 500 {
			break
		}
		before = msgs[len(msgs)-1].ID
	}
	return out, nil
}
