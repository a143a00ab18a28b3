package jobs

import (
	"context"
	"errors"
	"fmt"
)

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
		_ = s.cancels.Publish(ctx, id)
		return prev, nil
	}
	if !errors.Is(err, ErrConflict) {
		return prev, err
	}
	st, err := s.cancels.Request(ctx, id, by)
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
	v, ok, err := s.cancels.Recorded(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read cancel of job #%d: %w", id, err)
	}
	if !ok {
		return nil, nil
	}
	return &CancelError{By: v}, nil
}
