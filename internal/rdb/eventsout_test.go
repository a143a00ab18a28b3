package rdb_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// These tests hold the events-out scripts (eventsout.go) to their contracts.

var e0 = time.UnixMilli(1_700_000_000_000)

func newEventsOut(t *testing.T) (*rdb.EventsOut, *fixture) {
	t.Helper()
	f := newFixture(t)
	return rdb.NewEventsOut(f.c, ""), f
}

func deliveries(eps ...string) []rdb.EventDelivery {
	var ds []rdb.EventDelivery
	for i := 0; i+1 < len(eps); i += 2 {
		var item []byte
		if eps[i+1] != "" {
			item = []byte(eps[i+1])
		}
		ds = append(ds, rdb.EventDelivery{Endpoint: eps[i], Item: item})
	}
	return ds
}

func queue(t *testing.T, f *fixture, ep string) []string {
	t.Helper()
	items, err := f.raw.LRange(ctx, "{gantry}:events-out:q:"+ep, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func TestEventsOutLeadIsOneAtATime(t *testing.T) {
	o, f := newEventsOut(t)
	if ok, err := o.Lead(ctx, "a", time.Minute); err != nil || !ok {
		t.Fatalf("Lead(a) on no lease = %v, %v", ok, err)
	}
	if ok, _ := o.Lead(ctx, "b", time.Minute); ok {
		t.Fatal("b took the lease a holds")
	}
	if ok, _ := o.Lead(ctx, "a", time.Hour); !ok {
		t.Fatal("a could not extend its own lease")
	}
	if ttl := f.raw.PTTL(ctx, "{gantry}:events-out:fanout").Val(); ttl < 59*time.Minute {
		t.Fatalf("extended lease lives %v", ttl)
	}
	if err := o.Resign(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := o.Lead(ctx, "b", time.Minute); ok {
		t.Fatal("b's Resign gave up a's lease")
	}
	if err := o.Resign(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := o.Lead(ctx, "b", time.Minute); !ok {
		t.Fatal("b could not take a lease given up")
	}
}

func TestEventsOutFanOutOnceInOrder(t *testing.T) {
	o, f := newEventsOut(t)
	if cur, err := o.StartCursor(ctx, "5-0"); err != nil || cur != "5-0" {
		t.Fatalf("StartCursor = %q, %v", cur, err)
	}
	if cur, _ := o.StartCursor(ctx, "9-0"); cur != "5-0" {
		t.Fatalf("StartCursor moved a cursor that was set: %q", cur)
	}
	if _, err := o.Lead(ctx, "me", time.Minute); err != nil {
		t.Fatal(err)
	}
	fan := func(token, id string, job int64, state string, ds []rdb.EventDelivery, max int64) (rdb.FanOutResult, []string) {
		t.Helper()
		res, full, err := o.FanOut(ctx, token, id, job, state, time.Hour, ds, e0, max)
		if err != nil {
			t.Fatalf("FanOut(%s): %v", id, err)
		}
		return res, full
	}
	if res, _ := fan("me", "4-9", 1, "queued", deliveries("w", "old"), 10); res != rdb.AlreadyDone {
		t.Fatalf("an event before the cursor: %v", res)
	}
	if res, _ := fan("other", "6-0", 1, "queued", deliveries("w", "x"), 10); res != rdb.NotLeader {
		t.Fatalf("a token without the lease: %v", res)
	}
	if res, full := fan("me", "6-0", 1, "queued", deliveries("w", "a1", "eb", "a1"), 10); res != rdb.FannedOut || len(full) != 0 {
		t.Fatalf("first event: %v %v", res, full)
	}
	if res, _ := fan("me", "6-0", 1, "queued", deliveries("w", "a1", "eb", "a1"), 10); res != rdb.AlreadyDone {
		t.Fatalf("the same event again: %v", res)
	}
	// eb's filter takes only some events; w's queue holds two at most.
	if res, full := fan("me", "6-1", 1, "running", deliveries("w", "a2", "eb", ""), 2); res != rdb.FannedOut || len(full) != 0 {
		t.Fatalf("second event: %v %v", res, full)
	}
	if res, full := fan("me", "10-0", 2, "", deliveries("w", "b1", "eb", "b1"), 2); res != rdb.FannedOut || !cmp.Equal(full, []string{"w"}) {
		t.Fatalf("third event, w full: %v %v", res, full)
	}
	if diff := cmp.Diff([]string{"a1", "a2"}, queue(t, f, "w")); diff != "" {
		t.Errorf("w's queue (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a1", "b1"}, queue(t, f, "eb")); diff != "" {
		t.Errorf("eb's queue (-want +got):\n%s", diff)
	}
	if cur := f.raw.Get(ctx, "{gantry}:events-out:cursor").Val(); cur != "10-0" {
		t.Errorf("cursor %q", cur)
	}
	if s, _ := o.LastState(ctx, 1); s != "running" {
		t.Errorf("job 1's last state %q", s)
	}
	if s, _ := o.LastState(ctx, 2); s != "" {
		t.Errorf("job 2's last state %q after an event without a state", s)
	}
	if ttl := f.raw.PTTL(ctx, "{gantry}:events-out:state:1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("state key TTL %v", ttl)
	}
	due, err := o.Due(ctx, e0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"eb", "w"}, sorted(due)); diff != "" {
		t.Errorf("due (-want +got):\n%s", diff)
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestEventsOutClaimFinish(t *testing.T) {
	o, f := newEventsOut(t)
	if _, err := o.Lead(ctx, "me", time.Minute); err != nil {
		t.Fatal(err)
	}
	for i, item := range []string{"a", "b", "c", "d"} {
		if _, _, err := o.FanOut(ctx, "me", "1-"+string(rune('1'+i)), 1, "", time.Hour, deliveries("w", item), e0, 100); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(token string, now time.Time, n int) []string {
		t.Helper()
		items, err := o.Claim(ctx, "w", token, now, time.Minute, n)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, it := range items {
			out = append(out, string(it))
		}
		return out
	}
	if got := claim("s1", e0, 3); !cmp.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("first claim %v", got)
	}
	if got := claim("s2", e0.Add(time.Second), 3); got != nil {
		t.Fatalf("a second sender claimed a held endpoint: %v", got)
	}
	// a sent, b to retry (changed), c dead.
	ok, err := o.Finish(ctx, "w", "s1", e0, e0.Add(30*time.Second), 3, [][]byte{[]byte("b'")}, [][]byte{[]byte("c")}, "410 Gone")
	if err != nil || !ok {
		t.Fatalf("Finish = %v, %v", ok, err)
	}
	if ok, _ := o.Finish(ctx, "w", "s1", e0, e0, 1, nil, nil, ""); ok {
		t.Fatal("Finish without the lease changed something")
	}
	if diff := cmp.Diff([]string{"b'", "d"}, queue(t, f, "w")); diff != "" {
		t.Errorf("queue after finish (-want +got):\n%s", diff)
	}
	if got := claim("s2", e0.Add(29*time.Second), 3); got != nil {
		t.Fatalf("claimed before the retry was due: %v", got)
	}
	if got := claim("s2", e0.Add(30*time.Second), 1); !cmp.Equal(got, []string{"b'"}) {
		t.Fatalf("claim at the retry %v", got)
	}
	if ok, _ := o.Release(ctx, "w", "s2", e0.Add(31*time.Second)); !ok {
		t.Fatal("Release by the holder failed")
	}
	if got := claim("s3", e0.Add(31*time.Second), 5); !cmp.Equal(got, []string{"b'", "d"}) {
		t.Fatalf("claim after release %v", got)
	}
	if ok, _ := o.Finish(ctx, "w", "s3", e0, e0, 2, nil, nil, ""); !ok {
		t.Fatal("finish")
	}
	if n, _ := o.Depth(ctx, "w"); n != 0 {
		t.Fatalf("depth %d", n)
	}
	if _, ok, _ := o.NextDue(ctx); ok {
		t.Fatal("an empty endpoint is still due")
	}
	dead, err := o.DeadLetters(ctx, 10)
	if err != nil || len(dead) != 1 || dead[0].Delivery != "c" || dead[0].Endpoint != "w" || dead[0].Error != "410 Gone" {
		t.Fatalf("dead letters %+v, %v", dead, err)
	}
}

func TestEventsOutDeadHolderDelaysOneLease(t *testing.T) {
	o, _ := newEventsOut(t)
	if _, err := o.Lead(ctx, "me", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.FanOut(ctx, "me", "1-1", 1, "", time.Hour, deliveries("w", "a"), e0, 100); err != nil {
		t.Fatal(err)
	}
	if items, _ := o.Claim(ctx, "w", "dies", e0, 50*time.Millisecond, 1); len(items) != 1 {
		t.Fatal("claim")
	}
	next, ok, err := o.NextDue(ctx)
	if err != nil || !ok || !next.Equal(e0.Add(50*time.Millisecond)) {
		t.Fatalf("NextDue while held = %v %v %v", next, ok, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		items, err := o.Claim(ctx, "w", "next", e0.Add(time.Second), time.Minute, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the lease of a dead holder never lapsed")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
