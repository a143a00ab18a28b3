package rdb_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
)

// These tests hold the inbox (inbox.go) to its contracts: the accept
// script, and the consumer group's take, hand-back and dead letters.

const dedupe = 72 * time.Hour

func newInbox(t *testing.T) (*rdb.Inbox, *redis.Client) {
	t.Helper()
	raw := redistest.Client(t)
	return rdb.NewInbox(rdb.New(raw), ""), raw
}

func sum(body string) []byte {
	s := sha256.Sum256([]byte(body))
	return s[:]
}

func accept(t *testing.T, in *rdb.Inbox, delivery, body string) (rdb.InboxVerdict, string) {
	t.Helper()
	v, first, err := in.Accept(context.Background(), delivery, sum(body), []byte(`{"body":"`+body+`"}`), dedupe)
	if err != nil {
		t.Fatalf("Accept(%s): %v", delivery, err)
	}
	return v, first
}

func backlog(t *testing.T, in *rdb.Inbox) int64 {
	t.Helper()
	n, err := in.Len(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestInboxAcceptQueuesADeliveryOnce(t *testing.T) {
	in, raw := newInbox(t)
	ctx := context.Background()
	if v, _ := accept(t, in, "d1", "push 1"); v != rdb.InboxQueued {
		t.Fatalf("a new delivery: %v", v)
	}
	// Both records live for the dedupe time.
	for _, k := range []string{"{gantry}:seen:github:d1", "{gantry}:seen:github-body:" + hex.EncodeToString(sum("push 1"))} {
		if ttl := raw.PTTL(ctx, k).Val(); ttl <= dedupe-time.Minute || ttl > dedupe {
			t.Errorf("%s lives %v, want %v", k, ttl, dedupe)
		}
	}
	if got := raw.Get(ctx, "{gantry}:seen:github-body:"+hex.EncodeToString(sum("push 1"))).Val(); got != "d1" {
		t.Errorf("the body record names %q, want d1", got)
	}
	// A redelivery, even of another body, and a replay of the body under
	// another delivery are refused, and neither is recorded.
	if v, _ := accept(t, in, "d1", "push 2"); v != rdb.InboxRedelivery {
		t.Fatalf("a redelivery: %v", v)
	}
	if v, first := accept(t, in, "d2", "push 1"); v != rdb.InboxReplay || first != "d1" {
		t.Fatalf("a replay: %v, %q", v, first)
	}
	if n := raw.Exists(ctx, "{gantry}:seen:github:d2", "{gantry}:seen:github-body:"+hex.EncodeToString(sum("push 2"))).Val(); n != 0 {
		t.Errorf("a refused webhook left %d records", n)
	}
	if n := backlog(t, in); n != 1 {
		t.Fatalf("backlog %d, want 1", n)
	}
	c := in.Consumer("webhooks", "a")
	if err := c.Join(ctx); err != nil {
		t.Fatal(err)
	}
	es, err := c.Read(ctx, time.Second)
	if err != nil || len(es) != 1 {
		t.Fatalf("read %v (%v)", es, err)
	}
	want := rdb.InboxEntry{Delivery: "d1", Event: `{"body":"push 1"}`}
	if diff := cmp.Diff(want, es[0], cmpopts.IgnoreFields(rdb.InboxEntry{}, "ID"), cmpopts.IgnoreUnexported(rdb.InboxEntry{})); diff != "" {
		t.Fatalf("entry (-want +got):\n%s", diff)
	}
}

func TestInboxConsumersTakeOverAndHandBack(t *testing.T) {
	in, _ := newInbox(t)
	ctx := context.Background()
	a, b := in.Consumer("webhooks", "a"), in.Consumer("webhooks", "b")
	for _, c := range []*rdb.InboxConsumer{a, b, a} {
		if err := c.Join(ctx); err != nil {
			t.Fatalf("Join: %v", err)
		}
	}
	if es, err := a.Read(ctx, 10*time.Millisecond); err != nil || len(es) != 0 {
		t.Fatalf("read of an empty inbox: %v, %v", es, err)
	}
	accept(t, in, "d1", "push")
	es, err := a.Read(ctx, time.Second)
	if err != nil || len(es) != 1 {
		t.Fatalf("a read %v (%v)", es, err)
	}
	id := es[0].ID
	if n, err := a.TimesTaken(ctx, id); err != nil || n != 1 {
		t.Fatalf("taken %d times (%v), want 1", n, err)
	}
	// Not idle for an hour: b cannot take it over.
	if got, err := b.TakeOver(ctx, time.Hour); err != nil || len(got) != 0 {
		t.Fatalf("b took over a busy webhook: %v, %v", got, err)
	}
	if err := a.Touch(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Handed back as idle for an hour, b takes it over at once.
	if err := a.HandBack(ctx, id, time.Hour); err != nil {
		t.Fatal(err)
	}
	got, err := b.TakeOver(ctx, time.Hour)
	if err != nil || len(got) != 1 || got[0].ID != id || got[0].Delivery != "d1" {
		t.Fatalf("b took over %v, %v", got, err)
	}
	if n, _ := b.TimesTaken(ctx, id); n < 2 {
		t.Fatalf("taken %d times after the takeover, want more than 1", n)
	}
	if err := b.Done(ctx, id); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, in); n != 0 {
		t.Fatalf("backlog %d after Done", n)
	}
	if n, err := b.TimesTaken(ctx, id); err != nil || n != 0 {
		t.Fatalf("still pending after Done: %d, %v", n, err)
	}
}

func TestInboxDeadLetterForgetsTheDelivery(t *testing.T) {
	in, _ := newInbox(t)
	ctx := context.Background()
	c := in.Consumer("webhooks", "a")
	if err := c.Join(ctx); err != nil {
		t.Fatal(err)
	}
	accept(t, in, "d1", "push")
	es, err := c.Read(ctx, time.Second)
	if err != nil || len(es) != 1 {
		t.Fatalf("read %v (%v)", es, err)
	}
	if err := c.DeadLetter(ctx, es[0], "broken", 3, t0); err != nil {
		t.Fatal(err)
	}
	if n := backlog(t, in); n != 0 {
		t.Fatalf("backlog %d after the dead letter", n)
	}
	dead, err := in.DeadLetters(ctx, 10)
	want := []rdb.InboxDeadLetter{{Delivery: "d1", Event: `{"body":"push"}`, Error: "broken", Attempts: 3}}
	if err != nil || !cmp.Equal(dead, want) {
		t.Fatalf("dead letters %+v (%v), want %+v", dead, err, want)
	}
	// Forgotten: GitHub's redelivery, once the cause is mended, is new.
	if v, _ := accept(t, in, "d1", "push"); v != rdb.InboxQueued {
		t.Fatalf("a redelivery after the dead letter: %v", v)
	}
}
