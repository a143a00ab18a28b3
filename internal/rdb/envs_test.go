package rdb_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// lockScript: taken, taken again (reason renewed, since kept), refused to
// another with the holder's lock; each take audited.
func TestLock(t *testing.T) {
	f := newFixture(t)
	e := rdb.NewEnvs(f.c, f.k)
	l, ok, err := e.Lock(ctx, "prod", "U1", "release", time.UnixMilli(1000))
	if err != nil || !ok || l != (rdb.Lock{Holder: "U1", Why: "release", Since: time.UnixMilli(1000)}) {
		t.Fatalf("take: %+v, %v, %v", l, ok, err)
	}
	l, ok, err = e.Lock(ctx, "prod", "U1", "still", time.UnixMilli(2000))
	if err != nil || !ok || l != (rdb.Lock{Holder: "U1", Why: "still", Since: time.UnixMilli(1000)}) {
		t.Fatalf("take again: %+v, %v, %v", l, ok, err)
	}
	l, ok, err = e.Lock(ctx, "prod", "U2", "mine", time.UnixMilli(3000))
	if err != nil || ok || l != (rdb.Lock{Holder: "U1", Why: "still", Since: time.UnixMilli(1000)}) {
		t.Fatalf("another takes it: %+v, %v, %v", l, ok, err)
	}
	if got, err := e.LockOf(ctx, "prod"); err != nil || got.Holder != "U1" || got.Why != "still" {
		t.Fatalf("lock of prod: %+v, %v", got, err)
	}
	a := f.stream(t, f.k.Audit())
	if len(a) != 2 || a[0]["action"] != "lock" || a[0]["who"] != "U1" || a[0]["env"] != "prod" || a[1]["detail"] != "still" {
		t.Fatalf("audit %v: want the two takes", a)
	}
}

// unlockScript: no lock, another's lock refused, forced, the holder's own.
func TestUnlock(t *testing.T) {
	f := newFixture(t)
	e := rdb.NewEnvs(f.c, f.k)
	if h, ok, err := e.Unlock(ctx, "prod", "U1", false, time.UnixMilli(1)); err != nil || !ok || h != "" {
		t.Fatalf("unlock of no lock: %q, %v, %v", h, ok, err)
	}
	e.Lock(ctx, "prod", "U1", "why", time.UnixMilli(1))
	e.Lock(ctx, "stage", "U1", "why", time.UnixMilli(1))
	if h, ok, err := e.Unlock(ctx, "prod", "U2", false, time.UnixMilli(2)); err != nil || ok || h != "U1" {
		t.Fatalf("unlock of another's lock: %q, %v, %v", h, ok, err)
	}
	if l, _ := e.LockOf(ctx, "prod"); l.Holder != "U1" {
		t.Fatalf("a refused unlock freed it: %+v", l)
	}
	if h, ok, err := e.Unlock(ctx, "prod", "U2", true, time.UnixMilli(3)); err != nil || !ok || h != "U1" {
		t.Fatalf("forced unlock: %q, %v, %v", h, ok, err)
	}
	if h, ok, err := e.Unlock(ctx, "stage", "U1", false, time.UnixMilli(4)); err != nil || !ok || h != "U1" {
		t.Fatalf("the holder's unlock: %q, %v, %v", h, ok, err)
	}
	for _, env := range []string{"prod", "stage"} {
		if l, _ := e.LockOf(ctx, env); l.Holder != "" {
			t.Errorf("%s still locked: %+v", env, l)
		}
	}
	a := f.stream(t, f.k.Audit())
	if len(a) != 4 || a[2]["action"] != "unlock" || a[2]["who"] != "U2" || a[2]["detail"] != "held by U1" || a[3]["env"] != "stage" {
		t.Fatalf("audit %v: want two locks and two unlocks", a)
	}
}

// setThreadScript: the record's thread and the index; no job, nothing.
func TestMessages(t *testing.T) {
	f := newFixture(t)
	m := rdb.NewMessages(f.c, f.k, time.Hour)
	f.job(t, 1, "state", "queued")
	if ok, err := m.Set(ctx, 1, "C1", "1.5"); err != nil || !ok {
		t.Fatalf("set: %v, %v", ok, err)
	}
	if ts := f.hash(t, f.k.Job(1))["thread_ts"]; ts != "1.5" {
		t.Errorf("thread_ts %q", ts)
	}
	if id, ok, err := m.Job(ctx, "C1", "1.5"); err != nil || !ok || id != 1 {
		t.Errorf("job of the message: %d, %v, %v", id, ok, err)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Message("C1", "1.5")).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("index TTL %v", ttl)
	}
	if ok, err := m.Set(ctx, 2, "C1", "2.5"); err != nil || ok {
		t.Fatalf("set of no job: %v, %v", ok, err)
	}
	if _, ok, _ := m.Job(ctx, "C1", "2.5"); ok || f.raw.Exists(ctx, f.k.Job(2)).Val() != 0 {
		t.Error("a message of no job was indexed")
	}
}

// requestCancelScript: a running job gets cancel_by and a broadcast; a
// queued or final job, or none, is left as it is.
func TestRequestCancel(t *testing.T) {
	f := newFixture(t)
	c := rdb.NewCancels(f.c, f.k)
	sub := f.raw.Subscribe(ctx, f.k.Cancel())
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil { // the subscription stands
		t.Fatal(err)
	}
	f.job(t, 1, "state", "running")
	f.job(t, 2, "state", "queued")
	f.job(t, 3, "state", "succeeded")
	for id, want := range map[int64]string{1: "running", 2: "queued", 3: "succeeded", 4: ""} {
		if st, err := c.Request(ctx, id, "U9"); err != nil || st != want {
			t.Errorf("cancel #%d: %q, %v; want %q", id, st, err, want)
		}
	}
	if by, ok, err := c.Recorded(ctx, 1); err != nil || !ok || by != "U9" {
		t.Errorf("cancel of the running job: %q, %v, %v", by, ok, err)
	}
	for _, id := range []int64{2, 3} {
		if _, ok, _ := c.Recorded(ctx, id); ok {
			t.Errorf("a cancel is recorded on #%d", id)
		}
	}
	if f.raw.Exists(ctx, f.k.Job(4)).Val() != 0 {
		t.Error("a cancel of no job created it")
	}
	msg, err := sub.ReceiveMessage(ctx)
	if err != nil || msg.Payload != "1" {
		t.Fatalf("broadcast: %v, %v", msg, err)
	}
	// Only the running job was broadcast: the next message is this one.
	if err := c.Publish(ctx, 9); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.ReceiveMessage(ctx); err != nil || msg.Payload != "9" {
		t.Fatalf("after the one broadcast: %v, %v", msg, err)
	}
}

// renewClaimScript and releaseClaimScript: an owner renews and releases
// its own claim, never another's.
func TestClaimsAreTheOwners(t *testing.T) {
	f := newFixture(t)
	mine := rdb.NewClaims(f.c, f.k, "host/1", time.Minute)
	other := rdb.NewClaims(f.c, f.k, "host/2", time.Hour)
	if ok, err := mine.Acquire(ctx, "livelog:1"); err != nil || !ok {
		t.Fatalf("acquire: %v, %v", ok, err)
	}
	if ok, err := other.Acquire(ctx, "livelog:1"); err != nil || ok {
		t.Fatalf("another acquires it: %v, %v", ok, err)
	}
	if ok, err := other.Renew(ctx, "livelog:1"); err != nil || ok {
		t.Fatalf("another renews it: %v, %v", ok, err)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Claim("livelog:1")).Val(); ttl > time.Minute {
		t.Fatalf("claim TTL %v: another's renewal extended it", ttl)
	}
	if ok, err := other.Release(ctx, "livelog:1"); err != nil || ok {
		t.Fatalf("another releases it: %v, %v", ok, err)
	}
	if h := f.get(t, f.k.Claim("livelog:1")); h != "host/1" {
		t.Fatalf("claim held by %q, want host/1", h)
	}
	f.raw.PExpire(ctx, f.k.Claim("livelog:1"), time.Second)
	if ok, err := mine.Renew(ctx, "livelog:1"); err != nil || !ok {
		t.Fatalf("renew: %v, %v", ok, err)
	}
	if ttl := f.raw.PTTL(ctx, f.k.Claim("livelog:1")).Val(); ttl <= time.Second {
		t.Fatalf("claim TTL %v after renewal", ttl)
	}
	if ok, err := mine.Acquire(ctx, "livelog:1"); err != nil || !ok {
		t.Fatalf("acquire what it holds (a restarted owner): %v, %v", ok, err)
	}
	if ok, err := mine.Release(ctx, "livelog:1"); err != nil || !ok {
		t.Fatalf("release: %v, %v", ok, err)
	}
	if ok, err := mine.Renew(ctx, "livelog:1"); err != nil || ok {
		t.Fatalf("renew of a released claim: %v, %v", ok, err)
	}
	st := rdb.LiveLog{TS: "1.5", Shown: 10, Lines: 2, Ended: true}
	if err := mine.SaveLiveLog(ctx, 1, st); err != nil {
		t.Fatal(err)
	}
	if got, err := other.LiveLog(ctx, 1); err != nil || got != st {
		t.Fatalf("live log: %+v, %v", got, err)
	}
}
