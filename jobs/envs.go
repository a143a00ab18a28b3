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
// deploys there wait.
type Lock struct {
	Env    string
	Holder string
	Why    say.Text // why it is held, as its holder said it
	Since  time.Time
}

// LockEnv takes the lock on env for holder (taking it again updates the
// reason). It returns the lock that stands and whether holder has it.
func (s *Store) LockEnv(ctx context.Context, env, holder string, why say.Text) (Lock, bool, error) {
	l, ok, err := s.envs.Lock(ctx, env, holder, string(why), s.now())
	if err != nil {
		return Lock{}, false, fmt.Errorf("lock %s: %w", env, err)
	}
	return Lock{Env: env, Holder: l.Holder, Why: say.Text(l.Why), Since: l.Since}, ok, nil
}

// ErrNotHolder is returned when someone who does not hold a lock, and is
// not an admin, tries to unlock it.
var ErrNotHolder = errors.New("lock is held by someone else")

// UnlockEnv frees env. Only its holder may, or an admin (force). It returns
// who held it; "" when it was not locked.
func (s *Store) UnlockEnv(ctx context.Context, env, by string, force bool) (string, error) {
	holder, ok, err := s.envs.Unlock(ctx, env, by, force, s.now())
	if err != nil {
		return "", fmt.Errorf("unlock %s: %w", env, err)
	}
	if !ok {
		return holder, ErrNotHolder
	}
	return holder, nil
}

// EnvLock returns the lock on env, or nil.
func (s *Store) EnvLock(ctx context.Context, env string) (*Lock, error) {
	l, err := s.envs.LockOf(ctx, env)
	if err != nil {
		return nil, fmt.Errorf("read lock of %s: %w", env, err)
	}
	if l.Holder == "" {
		return nil, nil
	}
	return &Lock{Env: env, Holder: l.Holder, Why: say.Text(l.Why), Since: l.Since}, nil
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
