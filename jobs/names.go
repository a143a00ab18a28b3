package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// CachedName returns the display name kept for person id, and whether one
// is kept.
func (s *Store) CachedName(ctx context.Context, id string) (string, bool, error) {
	v, ok, err := s.names.Get(ctx, id)
	if err != nil {
		return "", false, fmt.Errorf("read the name of %s: %w", id, err)
	}
	return v, ok, nil
}

// CacheName keeps name as person id's display name for ttl.
func (s *Store) CacheName(ctx context.Context, id, name string, ttl time.Duration) error {
	if err := s.names.Set(ctx, id, name, ttl); err != nil {
		return fmt.Errorf("keep the name of %s: %w", id, err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.c.Ping(ctx) }

// LinkSecret returns the key that signs page links, shared by every gantry
// process on this Redis: the first caller's fresh value is kept for good,
// and later callers read it.
func (s *Store) LinkSecret(ctx context.Context, fresh string) (string, error) {
	return rdb.LinkSecret(ctx, s.c, s.keys, fresh)
}

// Previews are the running previews' records (see rdb.Previews).
func (s *Store) Previews() *rdb.Previews { return rdb.NewPreviews(s.c, s.keys) }
