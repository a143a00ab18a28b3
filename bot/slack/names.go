package slack

import (
	"context"
	"log/slog"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// Names gives people's Slack display names to the surfaces that show names
// instead of mentions (the console, job pages). A name is read with
// users.info once and kept in Redis for a day, so that every gantry
// process and every page load shares it.
type Names struct {
	api    WebAPI
	sched  *Scheduler
	store  *jobs.Store
	ttl    time.Duration
	logger *slog.Logger
}

var _ say.Names = (*Names)(nil)

// NewNames returns the look-up; ttl 0 is 24 hours.
func NewNames(api WebAPI, sched *Scheduler, store *jobs.Store, ttl time.Duration, logger *slog.Logger) *Names {
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Names{api: api, sched: sched, store: store, ttl: ttl, logger: logger}
}

// Name is person id's display name, or "" when Slack does not say (the
// surface then shows the id). A failed look-up is not kept: the next one
// tries again.
func (n *Names) Name(ctx context.Context, id string) string {
	if !say.IsSlackUser(id) {
		return ""
	}
	if name, ok, err := n.store.CachedName(ctx, id); err == nil && ok {
		return name
	}
	var name string
	err := n.sched.Do(ctx, MethodUserInfo, "", func(ctx context.Context, _ int) error {
		u, err := n.api.GetUserInfoContext(ctx, id)
		if err != nil {
			return err
		}
		name = displayName(u.Profile.DisplayName, u.RealName, u.Name)
		return nil
	})
	if err != nil {
		n.logger.Debug("read a person's name from Slack", "user", id, "err", err)
		return ""
	}
	if err := n.store.CacheName(ctx, id, name, n.ttl); err != nil {
		n.logger.Debug("keep a person's name", "user", id, "err", err)
	}
	return name
}

// displayName is the first name of a person that is set: the one they chose
// to be shown, their real name, their handle.
func displayName(names ...string) string {
	for _, s := range names {
		if s != "" {
			return s
		}
	}
	return ""
}
