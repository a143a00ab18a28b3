package rdb

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Events is the stream of announcements about jobs: transitions, steps,
// retries and notes, each with the job's number, the event's type, the
// job's state and a text. Records' scripts write most of them.
type Events struct {
	r    redis.UniversalClient
	k    Keys
	kept int64
}

// NewEvents returns the events stream of namespace k, which keeps about
// the newest kept events.
func NewEvents(c *Client, k Keys, kept int64) *Events { return &Events{r: c.r, k: k, kept: kept} }

// Event is one announcement as the stream keeps it.
type Event struct {
	ID    string // stream id
	Job   int64
	Type  string
	State string
	Text  string
}

// Announce adds an event about job id.
func (e *Events) Announce(ctx context.Context, id int64, typ, state, text string) error {
	return e.r.XAdd(ctx, &redis.XAddArgs{
		Stream: e.k.Events(), MaxLen: e.kept, Approx: true,
		Values: []any{"job", id, "type", typ, "state", state, "text", text},
	}).Err()
}

// Read returns up to count events after the stream id after ("0" for all
// kept, "$" for only new ones), waiting up to block for the first; none
// when block passes.
func (e *Events) Read(ctx context.Context, after string, count int64, block time.Duration) ([]Event, error) {
	res, err := e.r.XRead(ctx, &redis.XReadArgs{
		Streams: []string{e.k.Events(), after}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return events(res), nil
}

// Last is the id of the newest event, "0-0" when there is none.
func (e *Events) Last(ctx context.Context) (string, error) {
	msgs, err := e.r.XRevRangeN(ctx, e.k.Events(), "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

// CreateGroup makes sure consumer group exists, reading from now on (an
// existing one is left as it is).
func (e *Events) CreateGroup(ctx context.Context, group string) error {
	if err := e.r.XGroupCreateMkStream(ctx, e.k.Events(), group, "$").Err(); err != nil && !busyGroup(err) {
		return err
	}
	return nil
}

// ReclaimGroup takes over up to count events of group that a consumer
// read but did not acknowledge for minIdle.
func (e *Events) ReclaimGroup(ctx context.Context, group, consumer string, count int64, minIdle time.Duration) ([]Event, error) {
	k := e.k.Events()
	msgs, _, err := e.r.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: k, Group: group, Consumer: consumer, MinIdle: minIdle, Start: "0-0", Count: count,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return events([]redis.XStream{{Stream: k, Messages: msgs}}), nil
}

// ReadGroup returns up to count new events for consumer of group,
// waiting up to block for the first; none when block passes.
func (e *Events) ReadGroup(ctx context.Context, group, consumer string, count int64, block time.Duration) ([]Event, error) {
	res, err := e.r.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: group, Consumer: consumer, Streams: []string{e.k.Events(), ">"}, Count: count, Block: block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return events(res), nil
}

// Ack marks events of group as handled.
func (e *Events) Ack(ctx context.Context, group string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	return e.r.XAck(ctx, e.k.Events(), group, ids...).Err()
}

func events(res []redis.XStream) []Event {
	var out []Event
	for _, st := range res {
		for _, m := range st.Messages {
			ev := Event{ID: m.ID}
			if v, ok := m.Values["job"].(string); ok {
				ev.Job, _ = strconv.ParseInt(v, 10, 64)
			}
			ev.Type, _ = m.Values["type"].(string)
			ev.State, _ = m.Values["state"].(string)
			ev.Text, _ = m.Values["text"].(string)
			out = append(out, ev)
		}
	}
	return out
}
