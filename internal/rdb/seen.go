package rdb

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Seen records deliveries already handled (a Slack trigger_id or
// event_id, a GitHub delivery, a notice posted), so that a delivery that
// comes twice, to one process or to two, is handled once.
type Seen struct {
	r redis.UniversalClient
	k Keys
}

// NewSeen returns the record of deliveries of namespace k.
func NewSeen(c *Client, k Keys) *Seen { return &Seen{r: c.r, k: k} }

// First records delivery id for ttl and reports whether this is the first
// time it was seen.
func (s *Seen) First(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	return s.r.SetNX(ctx, s.k.Seen(id), "1", ttl).Result()
}

// Forget removes the record of delivery id: it counts as unseen again.
func (s *Seen) Forget(ctx context.Context, id string) error {
	return s.r.Del(ctx, s.k.Seen(id)).Err()
}
