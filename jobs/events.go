package jobs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

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
	res, err := s.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{s.keys.Events(), after}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read events: %w", err)
	}
	return decodeEvents(res), nil
}

// LastEventID is the id of the newest event, "0-0" when there is none: a
// reader that starts there sees only what comes next.
func (s *Store) LastEventID(ctx context.Context) (string, error) {
	msgs, err := s.rdb.XRevRangeN(ctx, s.keys.Events(), "+", "-", 1).Result()
	if err != nil {
		return "", fmt.Errorf("read last event: %w", err)
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// ReadEventsGroup reads events as consumer of group, so that several
// processes share the work and an event a crashed consumer read but did not
// acknowledge is handed out again after minIdle.
func (s *Store) ReadEventsGroup(ctx context.Context, group, consumer string, count int64, block, minIdle time.Duration) ([]Event, error) {
	k := s.keys.Events()
	if err := s.rdb.XGroupCreateMkStream(ctx, k, group, "$").Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return nil, fmt.Errorf("create event group %s: %w", group, err)
	}
	msgs, _, err := s.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: k, Group: group, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: count,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("reclaim events: %w", err)
	}
	if len(msgs) > 0 {
		return decodeEvents([]redis.XStream{{Stream: k, Messages: msgs}}), nil
	}
	res, err := s.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{k, ">"}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
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
	if err := s.rdb.XAck(ctx, s.keys.Events(), group, ids...).Err(); err != nil {
		return fmt.Errorf("ack events: %w", err)
	}
	return nil
}

func decodeEvents(res []redis.XStream) []Event {
	var out []Event
	for _, st := range res {
		for _, m := range st.Messages {
			e := Event{ID: m.ID}
			if v, ok := m.Values["job"].(string); ok {
				e.Job, _ = strconv.ParseInt(v, 10, 64)
			}
			e.Type, _ = m.Values["type"].(string)
			st, _ := m.Values["state"].(string)
			e.State = State(st)
			text, _ := m.Values["text"].(string)
			e.Text = say.Text(text)
			out = append(out, e)
		}
	}
	return out
}

// CreateEventGroup makes sure the consumer group of the events stream
// exists, reading from now on (it is created if missing; an existing one
// is left as it is).
func (s *Store) CreateEventGroup(ctx context.Context, group string) error {
	err := s.rdb.XGroupCreateMkStream(ctx, s.keys.Events(), group, "$").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create event group %s: %w", group, err)
	}
	return nil
}
