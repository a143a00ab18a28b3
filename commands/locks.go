package commands

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/spec"
)

// Locks on environments. A lock holds an environment for its holder:
// other people's deploys there are refused, or wait when nobody typed
// them. Every lock lapses: after "lock ENV for 2h", else the environment's
// lock_ttl (default 8h). Its holder is reminded a little before (a sixth
// of its time, at most 10 minutes) where it was taken; once it lapses it no
// longer stands (checked on every read), and the sweep removes it, audits
// it and says so there. Admins may free another's lock with --force; the
// holder is told.

// Notices says something where a lock was taken, outside any job's
// thread: a reminder that it lapses soon, that it lapsed. mention is the
// person the notice is for.
type Notices interface {
	Notice(ctx context.Context, channel, threadTS, mention string, text say.Text) error
}

// lockTTL is how long a lock on env stands when no time is given.
func (s *Service) lockTTL(ctx context.Context, env string) time.Duration {
	if e, ok := s.cfg(ctx).Environments[env]; ok && e.LockTTL > 0 {
		return e.LockTTL
	}
	return spec.DefaultLockTTL
}

// describeLock says who holds l, since when, why and until when.
func describeLock(l *jobs.Lock) say.Text {
	t := say.F("locked by %s since %s%s", Mention(l.Holder), clock(l.Since), why(l.Why))
	if !l.Expires.IsZero() {
		t += say.F(" (until %s)", clock(l.Expires))
	}
	return t
}

// lockedAgainst returns a refusal when someone else holds env's lock.
func (s *Service) lockedAgainst(ctx context.Context, r *Request, env string) error {
	l, err := s.store.EnvLock(ctx, env)
	if err != nil || l == nil || l.Holder == r.User {
		return err
	}
	return jobs.Userf("%s is %s; deploys there wait until it is unlocked or lapses", env, describeLock(l))
}

func why(s say.Text) say.Text {
	if s == "" {
		return ""
	}
	return ": " + s
}

func (s *Service) lock(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if _, err := s.mayDeploy(ctx, r, c.Env); err != nil {
		return Reply{}, err
	}
	ttl := c.For
	if ttl == 0 {
		ttl = s.lockTTL(ctx, c.Env)
	}
	l, ok, err := s.store.LockEnv(ctx, jobs.LockRequest{Env: c.Env, Holder: r.User, Why: typed(c.Reason), For: ttl, Channel: r.Channel, Thread: r.ThreadTS})
	if err != nil {
		return Reply{}, err
	}
	if !ok {
		return Reply{}, jobs.Userf("%s is already %s", c.Env, describeLock(&l))
	}
	return Reply{Text: say.F("%s locked %s%s. Until %s (%s); other people's deploys there wait until then or `unlock %s`.",
		Mention(r.User), c.Env, why(typed(c.Reason)), clock(l.Expires), spec.FormatDays(ttl), c.Env)}, nil
}

func (s *Service) unlock(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if c.Force && !s.IsAdmin(ctx, r) {
		return Reply{}, jobs.Userf("only admins may force an unlock; admins: %s", people(s.cfg(ctx).Admins))
	}
	before, err := s.store.EnvLock(ctx, c.Env)
	if err != nil {
		return Reply{}, err
	}
	u, err := s.store.UnlockEnv(ctx, c.Env, r.User, c.Force)
	if errors.Is(err, jobs.ErrNotHolder) {
		return Reply{}, jobs.Userf("%s is locked by %s; only they may unlock it, or an admin with `unlock %s --force` (admins: %s)",
			c.Env, Mention(u.Holder), c.Env, people(s.cfg(ctx).Admins))
	}
	if err != nil {
		return Reply{}, err
	}
	switch {
	case u.Lapsed:
		return Reply{Text: say.F("%s is not locked: the lock of %s had lapsed.", c.Env, Mention(u.Holder)), Ephemeral: true}, nil
	case u.Holder == "":
		return Reply{Text: say.F("%s is not locked.", c.Env), Ephemeral: true}, nil
	case u.Holder == r.User:
		return Reply{Text: say.F("%s unlocked %s.", Mention(r.User), c.Env)}, nil
	}
	// Forced: the holder is told, here and where they took it.
	text := say.F("%s force-unlocked %s, which %s held.", Mention(r.User), c.Env, Mention(u.Holder))
	if before != nil && before.Holder == u.Holder && before.Channel != "" && (before.Channel != r.Channel || before.Thread != r.ThreadTS) {
		s.notice(ctx, before.Channel, before.Thread, u.Holder, text)
	}
	return Reply{Text: text}, nil
}

// notice says text where a lock was taken; a notice that cannot be said is
// logged, never an error of the command.
func (s *Service) notice(ctx context.Context, channel, thread, mention string, text say.Text) {
	if s.notices == nil || channel == "" {
		return
	}
	if err := s.notices.Notice(ctx, channel, thread, mention, text); err != nil {
		s.logger.Error("say a lock notice", "channel", channel, "err", err)
	}
}

// SweepLocks reminds the holders of locks about to lapse and removes the
// locks that have lapsed, saying so where each was taken. The bot calls it
// every few seconds; each reminder and removal happens once however many
// processes sweep, and a lapsed lock no longer stands even before a sweep
// removes it.
func (s *Service) SweepLocks(ctx context.Context) error {
	ctx = s.pin(ctx) // one config for the whole pass, whatever a reload does meanwhile
	names, err := s.envNames(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, env := range names {
		if l, err := s.store.LockReminder(ctx, env); err != nil {
			errs = append(errs, err)
		} else if l != nil {
			s.notice(ctx, l.Channel, l.Thread, l.Holder, say.F("Your lock on %s lapses at %s (in %s): `lock %s for 2h` keeps it longer, `unlock %s` frees it now.",
				env, clock(l.Expires), RoundDuration(l.Expires.Sub(s.now())), env, env))
		}
		if l, err := s.store.ExpireLock(ctx, env); err != nil {
			errs = append(errs, err)
		} else if l != nil {
			s.logger.Info("a lock lapsed", slog.String("env", env), slog.String("holder", l.Holder))
			s.notice(ctx, l.Channel, l.Thread, l.Holder, say.F("The lock of %s on %s lapsed at %s and is released: deploys there go ahead.",
				Mention(l.Holder), env, clock(l.Expires)))
		}
	}
	return errors.Join(errs...)
}
