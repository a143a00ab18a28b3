package rdb

import (
	"context"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Inbox is the Redis stream of accepted GitHub webhooks (web.Inbox), with
// its consumer group, its dead letters and the records that make a
// delivery count once; the layout is in the package comment.
type Inbox struct {
	c      *Client
	keys   Keys
	stream string
	dead   string
}

// NewInbox returns the inbox of namespace ns ("" means "gantry").
func NewInbox(c *Client, ns string) *Inbox {
	k := NewKeys(ns)
	return &Inbox{c: c, keys: k, stream: k.Prefix() + "github:webhooks", dead: k.Prefix() + "github:webhooks:dead"}
}

// seenDelivery records that a delivery (its X-GitHub-Delivery, which
// GitHub keeps when it redelivers) was accepted.
func (in *Inbox) seenDelivery(delivery string) string { return in.keys.Seen("github:" + delivery) }

// seenBody records the delivery that carried a body (its SHA-256, which
// someone who captured a signed body cannot change without breaking the
// signature).
func (in *Inbox) seenBody(sum []byte) string {
	return in.keys.Seen("github-body:" + hex.EncodeToString(sum))
}

// InboxVerdict is what Accept did with a webhook.
type InboxVerdict int

const (
	InboxQueued     InboxVerdict = iota // new: it is in the stream
	InboxRedelivery                     // its delivery was seen before
	InboxReplay                         // its body came before, in another delivery
)

// inboxAcceptScript records a webhook as seen (its delivery id and its
// body's hash) and adds it to the stream, or does neither when either was
// seen: so a webhook is never seen but not queued, nor queued twice.
//
//	KEYS  1 the delivery's seen record, 2 the body's seen record, 3 the stream
//	ARGV  1 how long the records live (ms), 2 the delivery id, 3 the event (JSON)
//	reply {1, ''} for a delivery seen before, {2, the delivery that carried
//	      the body} for a body seen before, {0, the entry id} when queued
//
// The entry holds the delivery, the event and the names of both records,
// which a dead letter forgets.
var inboxAcceptScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return {1, ''} end
local prev = redis.call('GET', KEYS[2])
if prev then return {2, prev} end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[1])
local id = redis.call('XADD', KEYS[3], '*', 'delivery', ARGV[2], 'event', ARGV[3], 'seen', KEYS[1], 'body_seen', KEYS[2])
return {0, id}
`)

// Accept queues event, the webhook of delivery whose body has the SHA-256
// bodySum, unless the delivery or the body was seen within dedupe. For a
// replay it also returns the delivery that carried the body first.
func (in *Inbox) Accept(ctx context.Context, delivery string, bodySum, event []byte, dedupe time.Duration) (InboxVerdict, string, error) {
	res, err := inboxAcceptScript.Run(ctx, in.c.r, []string{in.seenDelivery(delivery), in.seenBody(bodySum), in.stream},
		dedupe.Milliseconds(), delivery, event).Slice()
	if err != nil {
		return 0, "", err
	}
	switch code, _ := res[0].(int64); code {
	case 0:
		return InboxQueued, "", nil
	case 1:
		return InboxRedelivery, "", nil
	default:
		first, _ := res[1].(string)
		return InboxReplay, first, nil
	}
}

// Len is how many webhooks are in the stream: accepted, not yet acted on.
func (in *Inbox) Len(ctx context.Context) (int64, error) {
	return in.c.r.XLen(ctx, in.stream).Result()
}

// InboxDeadLetter is a webhook given up on.
type InboxDeadLetter struct {
	Delivery string
	Event    string // the parsed event, as JSON
	Error    string
	Attempts int
}

// DeadLetters returns up to n of the webhooks given up on, newest first.
func (in *Inbox) DeadLetters(ctx context.Context, n int64) ([]InboxDeadLetter, error) {
	msgs, err := in.c.r.XRevRangeN(ctx, in.dead, "+", "-", n).Result()
	if err != nil {
		return nil, err
	}
	out := make([]InboxDeadLetter, 0, len(msgs))
	for _, m := range msgs {
		d := InboxDeadLetter{}
		d.Delivery, _ = m.Values["delivery"].(string)
		d.Event, _ = m.Values["event"].(string)
		d.Error, _ = m.Values["error"].(string)
		a, _ := m.Values["attempts"].(string)
		d.Attempts, _ = strconv.Atoi(a)
		out = append(out, d)
	}
	return out, nil
}

// InboxEntry is one webhook taken from the stream.
type InboxEntry struct {
	ID       string // the stream entry's id
	Delivery string
	Event    string // the parsed event, as JSON
	seen     []string
}

func inboxEntries(msgs []redis.XMessage) []InboxEntry {
	out := make([]InboxEntry, 0, len(msgs))
	for _, m := range msgs {
		e := InboxEntry{ID: m.ID}
		e.Delivery, _ = m.Values["delivery"].(string)
		e.Event, _ = m.Values["event"].(string)
		for _, f := range []string{"seen", "body_seen"} {
			if k, _ := m.Values[f].(string); k != "" {
				e.seen = append(e.seen, k)
			}
		}
		out = append(out, e)
	}
	return out
}

// InboxConsumer is one consumer of the inbox's consumer group.
type InboxConsumer struct {
	in          *Inbox
	group, name string
}

// Consumer returns the consumer name of group.
func (in *Inbox) Consumer(group, name string) *InboxConsumer {
	return &InboxConsumer{in: in, group: group, name: name}
}

// Join makes the consumer group if there is none, from the stream's start
// so that webhooks accepted before any consumer ran are acted on.
func (c *InboxConsumer) Join(ctx context.Context) error {
	err := c.in.c.r.XGroupCreateMkStream(ctx, c.in.stream, c.group, "0").Err()
	if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
		return err
	}
	return nil
}

// TakeOver takes one webhook another consumer (or this one, before a
// restart) took and left untouched for minIdle; none when there is none.
func (c *InboxConsumer) TakeOver(ctx context.Context, minIdle time.Duration) ([]InboxEntry, error) {
	msgs, _, err := c.in.c.r.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: c.in.stream, Group: c.group, Consumer: c.name,
		MinIdle: minIdle, Start: "0-0", Count: 1,
	}).Result()
	if err != nil && !IsNil(err) {
		return nil, err
	}
	return inboxEntries(msgs), nil
}

// Read takes one new webhook, waiting up to block for one to come; none
// when none came.
func (c *InboxConsumer) Read(ctx context.Context, block time.Duration) ([]InboxEntry, error) {
	res, err := c.in.c.r.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.group, Consumer: c.name, Streams: []string{c.in.stream, ">"},
		Count: 1, Block: block,
	}).Result()
	if IsNil(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []InboxEntry
	for _, st := range res {
		out = append(out, inboxEntries(st.Messages)...)
	}
	return out, nil
}

// Touch marks entry id as worked on by this consumer now, so that no other
// consumer takes it over for being idle.
func (c *InboxConsumer) Touch(ctx context.Context, id string) error {
	return c.in.c.r.XClaimJustID(ctx, &redis.XClaimArgs{
		Stream: c.in.stream, Group: c.group, Consumer: c.name, Messages: []string{id},
	}).Err()
}

// TimesTaken is how many times entry id has been handed to a consumer; 0
// when it is not pending.
func (c *InboxConsumer) TimesTaken(ctx context.Context, id string) (int64, error) {
	p, err := c.in.c.r.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.in.stream, Group: c.group, Start: id, End: id, Count: 1,
	}).Result()
	if err != nil || len(p) == 0 {
		return 0, err
	}
	return p[0].RetryCount, nil
}

// Done acknowledges and removes entry id, in one MULTI.
func (c *InboxConsumer) Done(ctx context.Context, id string) error {
	_, err := c.in.c.r.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, c.in.stream, c.group, id)
		p.XDel(ctx, c.in.stream, id)
		return nil
	})
	return err
}

// HandBack leaves entry id pending, marked idle for idle, so that the next
// consumer that looks for webhooks idle that long takes it at once.
func (c *InboxConsumer) HandBack(ctx context.Context, id string, idle time.Duration) error {
	return c.in.c.r.Do(ctx, "XCLAIM", c.in.stream, c.group, c.name, 0, id,
		"IDLE", idle.Milliseconds(), "JUSTID").Err()
}

// DeadLetter gives e up, in one MULTI: it goes to the dead letters (capped
// at about 1000) with why, the attempts made and the time at, leaves the
// stream, and its seen records are dropped, so that GitHub may deliver it
// again.
func (c *InboxConsumer) DeadLetter(ctx context.Context, e InboxEntry, why string, attempts int, at time.Time) error {
	_, err := c.in.c.r.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: c.in.dead, MaxLen: 1000, Approx: true, Values: []any{
			"delivery", e.Delivery, "event", e.Event, "error", why, "attempts", strconv.Itoa(attempts),
			"at", at.UTC().Format(time.RFC3339),
		}})
		p.XAck(ctx, c.in.stream, c.group, e.ID)
		p.XDel(ctx, c.in.stream, e.ID)
		if len(e.seen) > 0 {
			p.Del(ctx, e.seen...)
		}
		return nil
	})
	return err
}
