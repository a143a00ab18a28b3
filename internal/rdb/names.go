package rdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Names caches people's display names, each for a while.
type Names struct {
	r redis.UniversalClient
	k Keys
}

// NewNames returns the name cache of namespace k.
func NewNames(c *Client, k Keys) *Names { return &Names{r: c.r, k: k} }

// Get returns the name kept for person id, and whether one is kept.
func (n *Names) Get(ctx context.Context, id string) (string, bool, error) {
	v, err := n.r.Get(ctx, n.k.Name(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// Set keeps name as person id's display name for ttl.
func (n *Names) Set(ctx context.Context, id, name string, ttl time.Duration) error {
	return n.r.Set(ctx, n.k.Name(id), name, ttl).Err()
}

// LinkSecret returns the key that signs page links, shared by every
// process on this Redis: the first caller's fresh value is kept for good,
// and later callers read it.
func LinkSecret(ctx context.Context, c *Client, k Keys, fresh string) (string, error) {
	key := k.LinkSecret()
	if err := c.r.SetNX(ctx, key, fresh, 0).Err(); err != nil {
		return "", fmt.Errorf("store link secret: %w", err)
	}
	v, err := c.r.Get(ctx, key).Result()
	if err != nil {
		return "", fmt.Errorf("read link secret: %w", err)
	}
	return v, nil
}
