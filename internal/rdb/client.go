package rdb

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Client is gantry's handle on Redis. cmd/gantry opens the go-redis client
// (one server, Sentinel or Cluster) and wraps it here; every other package
// reaches Redis through the types of this package, never through the client.
type Client struct {
	r redis.UniversalClient
}

// New wraps an open go-redis client.
func New(r redis.UniversalClient) *Client { return &Client{r: r} }

// Ping says whether Redis answers.
func (c *Client) Ping(ctx context.Context) error { return c.r.Ping(ctx).Err() }

// Close closes the client and its connections.
func (c *Client) Close() error { return c.r.Close() }

// IsNil says whether err is Redis's "no such key" (a nil reply).
func IsNil(err error) bool { return errors.Is(err, redis.Nil) }
