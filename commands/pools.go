package commands

import (
	"context"
	"strconv"
	"strings"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/pool"

	"github.com/gantry-ci/gantry/say"
)

// Pools is what the pool commands need of the resource pools.
type Pools interface {
	Status(ctx context.Context, name string) ([]pool.Status, error)
	ForceRelease(ctx context.Context, member string) (pool.Lease, error)
	PoolOf(member string) (string, bool)
}

// HolderJob is the job a pool holder names ("job:42"), 0 when it is not one.
func HolderJob(holder string) int64 {
	id, err := strconv.ParseInt(strings.TrimPrefix(holder, "job:"), 10, 64)
	if err != nil || !strings.HasPrefix(holder, "job:") {
		return 0
	}
	return id
}

func holderName(holder string) string {
	if id := HolderJob(holder); id > 0 {
		return "#" + strconv.FormatInt(id, 10)
	}
	return holder
}

func (s *Service) pool(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if s.pools == nil {
		return Reply{}, jobs.Userf("this gantry has no resource pools configured")
	}
	if c.Sub == "release" {
		return s.poolRelease(ctx, r, c)
	}
	if c.Target != "" {
		if _, ok := s.cfg(ctx).Pools[c.Target]; !ok {
			return Reply{}, jobs.Userf("there is no pool called %q", c.Target)
		}
	}
	st, err := s.pools.Status(ctx, c.Target)
	if err != nil {
		return Reply{}, err
	}
	var b say.Builder
	for i, p := range st {
		if i > 0 {
			b.Add("\n")
		}
		b.F("*%s*", p.Name)
		for _, m := range p.Members {
			if m.Holder == "" {
				b.F("\n• %s: free", m.Name)
			} else {
				b.F("\n• %s: held by %s since %s", m.Name, holderName(m.Holder), clock(m.Since))
			}
		}
		if len(p.Waiting) > 0 {
			names := make([]string, len(p.Waiting))
			for i, w := range p.Waiting {
				names[i] = holderName(w.Holder)
			}
			b.F("\nwaiting: %s", strings.Join(names, ", "))
		}
	}
	return Reply{Text: b.Text(), Ephemeral: true}, nil
}

func (s *Service) poolRelease(ctx context.Context, r *Request, c *Command) (Reply, error) {
	if !s.IsAdmin(ctx, r) {
		return Reply{}, jobs.Userf("only admins may release a resource; admins: %s", people(s.cfg(ctx).Admins))
	}
	if _, ok := s.pools.PoolOf(c.Target); !ok {
		return Reply{}, jobs.Userf("there is no resource called %q", c.Target)
	}
	l, err := s.pools.ForceRelease(ctx, c.Target)
	if err != nil {
		return Reply{}, &jobs.UserError{Msg: say.F("could not release %s: %v", c.Target, err), Err: err}
	}
	if err := s.store.Audit(ctx, jobs.AuditEntry{Who: r.User, Action: "release", Job: HolderJob(l.Holder), Detail: say.Quote(c.Target)}); err != nil {
		s.logger.Error("audit pool release", "err", err)
	}
	if id := HolderJob(l.Holder); id > 0 {
		note := say.F("%s was released by %s; this job no longer holds it", c.Target, Mention(r.User))
		if err := s.store.Announce(ctx, id, jobs.EventNote, note); err != nil {
			s.logger.Error("announce pool release", "job", id, "err", err)
		}
	}
	return Reply{Text: say.F("Released %s (it was held by %s since %s).", c.Target, holderName(l.Holder), clock(l.Since))}, nil
}
