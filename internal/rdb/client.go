package rdb

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"

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

// Transient says whether err means Redis was away or not ready (a restart,
// a failover, a node loading its data), so that the same write may succeed
// later. An error Redis gave for the command itself, a client this process
// closed, and a context that ended are not transient.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		msg := rerr.Error()
		for _, p := range []string{"READONLY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "BUSY "} {
			if strings.HasPrefix(msg, p) {
				return true
			}
		}
		return false
	}
	if errors.Is(err, redis.ErrClosed) {
		return false // this process closed its client: it is stopping
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// noScript says whether err is Redis's answer to EVALSHA of a script it
// does not have (it restarted, or its scripts were flushed).
func noScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// busyGroup says whether err is XGROUP CREATE's answer for a group that
// exists already.
func busyGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "BUSYGROUP") }

// noGroup says whether err is the answer for a consumer group (or its
// stream) that does not exist.
func noGroup(err error) bool { return err != nil && strings.Contains(err.Error(), "NOGROUP") }

// ints parses the decimal numbers of vs; one that is not a number is 0.
func ints(vs []string) []int64 {
	out := make([]int64, len(vs))
	for i, v := range vs {
		out[i], _ = strconv.ParseInt(v, 10, 64)
	}
	return out
}

// pairs turns name/value strings into script arguments.
func pairs(args []any, kv []string) []any {
	for _, v := range kv {
		args = append(args, v)
	}
	return args
}
