package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

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

// Cancel stops job id on behalf of by. A job not yet taken ends cancelled
// at once; a running or waiting one is told to stop, and its worker records
// the end. It returns the state the job was in.
func (s *Store) Cancel(ctx context.Context, id int64, by string) (State, error) {
	reason := (&CancelError{By: by}).Text()
	prev, err := s.Transition(ctx, id, Change{
		From: []State{Queued, AwaitingApproval}, To: Cancelled, Text: reason,
		Set: Set().Reason(reason).CancelBy(by),
	})
	if err == nil {
		// A worker may have taken it already and be about to start it.
		_ = s.rdb.Publish(ctx, s.keys.Cancel(), id).Err()
		return prev, nil
	}
	if !errors.Is(err, ErrConflict) {
		return prev, err
	}
	st, err := requestCancelScript.Run(ctx, s.rdb, []string{s.keys.Job(id), s.keys.Cancel()}, id, by).Text()
	if err != nil {
		return "", fmt.Errorf("cancel job #%d: %w", id, err)
	}
	if st == "" {
		return "", fmt.Errorf("job #%d: %w", id, ErrNotFound)
	}
	if State(st) == Queued || State(st) == AwaitingApproval {
		// It moved back to the queue between the two steps: try once more.
		return s.Cancel(ctx, id, by)
	}
	if State(st).Final() {
		return State(st), fmt.Errorf("cancel job #%d: it has already ended: %w", id, ErrConflict)
	}
	return State(st), nil
}

// CancelRequest returns the cancel recorded for job id, or nil.
func (s *Store) CancelRequest(ctx context.Context, id int64) (*CancelError, error) {
	v, err := s.rdb.HGet(ctx, s.keys.Job(id), "cancel_by").Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read cancel of job #%d: %w", id, err)
	}
	return &CancelError{By: v}, nil
}
