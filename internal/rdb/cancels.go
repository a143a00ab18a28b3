package rdb

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Cancels are the cancels of running jobs: recorded on the job's record
// (cancel_by) and broadcast on a pub/sub channel, for the worker that runs
// the job.
type Cancels struct {
	r redis.UniversalClient
	k Keys
}

// NewCancels returns the cancels of namespace k.
func NewCancels(c *Client, k Keys) *Cancels { return &Cancels{r: c.r, k: k} }

// requestCancelScript asks a running or waiting job to stop.
//
//	KEYS[1] the job record, KEYS[2] the cancel channel
//	ARGV[1] the job number, ARGV[2] who asks
//
// It returns the job's state ("" when there is no such job). Only a
// running or waiting job is changed: its cancel_by is set and its number
// published, for its worker; any other state is returned as it is.
var requestCancelScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return '' end
if st == 'queued' or st == 'awaiting_approval' then
  return st
end
if st == 'running' or st == 'waiting' then
  redis.call('HSET', KEYS[1], 'cancel_by', ARGV[2])
  redis.call('PUBLISH', KEYS[2], ARGV[1])
end
return st
`)

// Request asks job id, if it is running or waiting, to stop on behalf of
// by (see requestCancelScript). It returns the job's state, "" when there
// is no such job.
func (c *Cancels) Request(ctx context.Context, id int64, by string) (string, error) {
	return requestCancelScript.Run(ctx, c.r, []string{c.k.Job(id), c.k.Cancel()}, id, by).Text()
}

// Publish tells the workers to look at job id's cancel.
func (c *Cancels) Publish(ctx context.Context, id int64) error {
	return c.r.Publish(ctx, c.k.Cancel(), id).Err()
}

// Recorded returns who cancelled job id, and false when no cancel is
// recorded.
func (c *Cancels) Recorded(ctx context.Context, id int64) (string, bool, error) {
	v, err := c.r.HGet(ctx, c.k.Job(id), "cancel_by").Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// Listen calls each with the job number of every cancel published, until
// ctx ends or the subscription is closed.
func (c *Cancels) Listen(ctx context.Context, each func(id int64)) {
	sub := c.r.Subscribe(ctx, c.k.Cancel())
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			id, err := strconv.ParseInt(m.Payload, 10, 64)
			if err != nil {
				continue
			}
			each(id)
		}
	}
}
