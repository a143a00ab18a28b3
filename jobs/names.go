package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// CachedName returns the display name kept for person id, and whether one
// is kept.
func (s *Store) CachedName(ctx context.Context, id string) (string, bool, error) {
	v, err := s.rdb.Get(ctx, s.keys.Name(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the name of %s: %w", id, err)
	}
	return v, true, nil
}

// CacheName keeps name as person id's display name for ttl.
func (s *Store) CacheName(ctx context.Context, id, name string, ttl time.Duration) error {
	if err := s.rdb.Set(ctx, s.keys.Name(id), name, ttl).Err(); err != nil {
		return fmt.Errorf("keep the name of %s: %w", id, err)
	}
	return nil
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

// LinkSecret returns the key that signs page links, shared by every gantry
// process on this Redis: the first caller's fresh value is kept for good,
// and later callers read it.
func (s *Store) LinkSecret(ctx context.Context, fresh string) (string, error) {
	key := s.keys.LinkSecret()
	if err := s.rdb.SetNX(ctx, key, fresh, 0).Err(); err != nil {
		return "", fmt.Errorf("store link secret: %w", err)
	}
	v, err := s.rdb.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("read link secret: %w", err)
	}
	return v, nil
}
