package slack

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
)

// Groups tells who is in a Slack user group, from
// usergroups.users.list, cached for a few minutes. A group is named by its
// ID (S0123) or, as the server config allows, by its handle with an "S-"
// in front ("S-releasers" for @releasers).
type Groups struct {
	api   WebAPI
	sched *Scheduler
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]cached // "members:S…" and "handles"
	loading map[string]*sync.WaitGroup
}

type cached struct {
	users   []string          // members of one group
	handles map[string]string // handle -> group ID
	at      time.Time
}

// NewGroups returns the groups of the workspace; ttl is how long an
// answer is kept (0 is 5 minutes).
func NewGroups(api WebAPI, sched *Scheduler, ttl time.Duration) *Groups {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &Groups{api: api, sched: sched, ttl: ttl, now: time.Now, entries: map[string]cached{}, loading: map[string]*sync.WaitGroup{}}
}

// Members returns the user IDs in group.
func (g *Groups) Members(ctx context.Context, group string) ([]string, error) {
	id := group
	if handle, ok := strings.CutPrefix(group, "S-"); ok {
		var err error
		if id, err = g.byHandle(ctx, handle); err != nil {
			return nil, err
		}
	}
	c, err := g.load(ctx, "members:"+id, func(ctx context.Context) (cached, error) {
		var users []string
		err := g.sched.Do(ctx, MethodGroupMembers, "", func(ctx context.Context, _ int) error {
			var e error
			users, e = g.api.GetUserGroupMembersContext(ctx, id)
			return e
		})
		if err != nil {
			return cached{}, fmt.Errorf("members of user group %s: %w", group, err)
		}
		return cached{users: users}, nil
	})
	return c.users, err
}

func (g *Groups) byHandle(ctx context.Context, handle string) (string, error) {
	c, err := g.load(ctx, "handles", func(ctx context.Context) (cached, error) {
		var groups []goslack.UserGroup
		err := g.sched.Do(ctx, MethodUserGroups, "", func(ctx context.Context, _ int) error {
			var e error
			groups, e = g.api.GetUserGroupsContext(ctx)
			return e
		})
		if err != nil {
			return cached{}, fmt.Errorf("list user groups: %w", err)
		}
		m := make(map[string]string, len(groups))
		for _, ug := range groups {
			m[ug.Handle] = ug.ID
		}
		return cached{handles: m}, nil
	})
	if err != nil {
		return "", err
	}
	id, ok := c.handles[handle]
	if !ok {
		return "", fmt.Errorf("there is no user group @%s in this workspace (the server config names S-%s)", handle, handle)
	}
	return id, nil
}

// load returns the cached entry for key, or fetches it once while other
// callers for the same key wait.
func (g *Groups) load(ctx context.Context, key string, fetch func(context.Context) (cached, error)) (cached, error) {
	for {
		g.mu.Lock()
		if c, ok := g.entries[key]; ok && g.now().Sub(c.at) < g.ttl {
			g.mu.Unlock()
			return c, nil
		}
		if wg := g.loading[key]; wg != nil {
			g.mu.Unlock()
			wg.Wait()
			if ctx.Err() != nil {
				return cached{}, ctx.Err()
			}
			continue
		}
		wg := &sync.WaitGroup{}
		wg.Add(1)
		g.loading[key] = wg
		g.mu.Unlock()

		c, err := fetch(ctx)
		g.mu.Lock()
		delete(g.loading, key)
		if err == nil {
			c.at = g.now()
			g.entries[key] = c
		}
		g.mu.Unlock()
		wg.Done()
		return c, err
	}
}
