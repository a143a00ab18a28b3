package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/say"
)

// Event types announced on the events stream.
const (
	EventState = "state" // the job moved to Event.State
	EventStep  = "step"  // a step started or ended; Text says which
	EventRetry = "retry" // the job errored and was put back with a backoff
	EventNote  = "note"  // something to say in the thread, state unchanged
)

// Event is one announcement about a job. Front ends turn them into messages.
type Event struct {
	ID    string // stream id, for resuming
	Job   int64
	Type  string
	State State
	Text  say.Text
}

// ReadEvents returns events after the stream id after ("0" for all kept,
// "$" for only new ones), waiting up to block for the first. It returns no
// events and no error when block passes.
func (s *Store) ReadEvents(ctx context.Context, after string, count int64, block time.Duration) ([]Event, error) {
	res, err := s.events.Read(ctx, after, count, block)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return decodeEvents(res), nil
}

// LastEventID is the id of the newest event, "0-0" when there is none: a
// reader that starts there sees only what comes next.
func (s *Store) LastEventID(ctx context.Context) (string, error) {
	id, err := s.events.Last(ctx)
	if err != nil {
		return "", fmt.Errorf("read last event: %w", err)
	}
	return id, nil
}

// ReadEventsGroup reads events as consumer of group, so that several
// processes share the work and an event a crashed consumer read but did not
// acknowledge is handed out again after minIdle.
func (s *Store) ReadEventsGroup(ctx context.Context, group, consumer string, count int64, block, minIdle time.Duration) ([]Event, error) {
	if err := s.events.CreateGroup(ctx, group); err != nil {
		return nil, fmt.Errorf("create event group %s: %w", group, err)
	}
	msgs, err := s.events.ReclaimGroup(ctx, group, consumer, count, minIdle)
	if err != nil {
		return nil, fmt.Errorf("reclaim events: %w", err)
	}
	if len(msgs) > 0 {
		return decodeEvents(msgs), nil
	}
	res, err := s.events.ReadGroup(ctx, group, consumer, count, block)
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return decodeEvents(res), nil
}

// AckEvents marks events of group as handled.
func (s *Store) AckEvents(ctx context.Context, group string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.events.Ack(ctx, group, ids...); err != nil {
		return fmt.Errorf("ack events: %w", err)
	}
	return nil
}

func decodeEvents(res []rdb.Event) []Event {
	if res == nil {
		return nil
	}
	out := make([]Event, len(res))
	for i, e := range res {
		out[i] = Event{ID: e.ID, Job: e.Job, Type: e.Type, State: State(e.State), Text: say.Text(e.Text)}
	}
	return out
}

// CreateEventGroup makes sure the consumer group of the events stream
// exists, reading from now on (it is created if missing; an existing one
// is left as it is).
func (s *Store) CreateEventGroup(ctx context.Context, group string) error {
	if err := s.events.CreateGroup(ctx, group); err != nil {
		return fmt.Errorf("create event group %s: %w", group, err)
	}
	return nil
}
