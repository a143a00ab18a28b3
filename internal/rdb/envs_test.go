package rdb_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// lock is a NewLock of env for holder at ms now, lapsing at ms expires
// and reminding at ms remind.
func lock(env, holder, why string, now, expires, remind int64) rdb.NewLock {
	return rdb.NewLock{Env: env, Holder: holder, Why: why, Now: time.UnixMilli(now), Expires: time.UnixMilli(expires),
		RemindAt: time.UnixMilli(remind), Channel: "C1", Thread: "1.5"}
}

// lockScript: taken, taken again (reason and expiry renewed, since kept),
// refused to another while it stands, taken over once it lapsed (the old
// one audited as expired); each take audited, the name kept.
func TestLock(t *testing.T) {
	f := newFixture(t)
	e := rdb.NewEnvs(f.c, f.k)
	want := rdb.Lock{Holder: "U1", Why: "release", Since: time.UnixMilli(1000), Expires: time.UnixMilli(5000),
		RemindAt: time.UnixMilli(4000), Channel: "C1", Thread: "1.5"}
	l, ok, err := e.Lock(ctx, lock("prod", "U1", "release", 1000, 5000, 4000))
	if err != nil || !ok || l != want {
		t.Fatalf("take: %+v, %v, %v", l, ok, err)
	}
	l, ok, err = e.Lock(ctx, lock("prod", "U1", "still", 2000, 9000, 8000))
	want.Why, want.Expires, want.RemindAt = "still", time.UnixMilli(9000), time.UnixMilli(8000)
	if err != nil || !ok || l != want {
		t.Fatalf("take again: %+v, %v, %v", l, ok, err)
	}
	l, ok, err = e.Lock(ctx, lock("prod", "U2", "mine", 8999, 20000, 19000))
	if err != nil || ok || l != want {
		t.Fatalf("another takes it while it stands: %+v, %v, %v", l, ok, err)
	}
	if got, err := e.LockOf(ctx, "prod"); err != nil || got != want {
		t.Fatalf("lock of prod: %+v, %v", got, err)
	}
	// At its expiry it has lapsed: another takes it, from now.
	l, ok, err = e.Lock(ctx, lock("prod", "U2", "mine", 9000, 20000, 19000))
	if err != nil || !ok || l.Holder != "U2" || l.Since != time.UnixMilli(9000) || l.Expires != time.UnixMilli(20000) {
		t.Fatalf("another takes a lapsed lock: %+v, %v, %v", l, ok, err)
	}
	a := f.stream(t, f.k.Audit())
	if len(a) != 4 || a[0]["action"] != "lock" || a[0]["who"] != "U1" || a[0]["env"] != "prod" || a[1]["detail"] != "still" ||
		a[2]["action"] != "lock-expire" || a[2]["who"] != "gantry" || a[2]["detail"] != "held by U1" || a[3]["who"] != "U2" {
		t.Fatalf("audit %v: want two takes, an expiry and a take", a)
	}
	if names, err := e.Names(ctx); err != nil || len(names) != 1 || names[0] != "prod" {
		t.Fatalf("names %v, %v", names, err)
	}
}

// unlockScript: no lock, another's lock refused, forced, the holder's own,
// a lapsed one removed as expired.
func TestUnlock(t *testing.T) {
	f := newFixture(t)
	e := rdb.NewEnvs(f.c, f.k)
	if r, err := e.Unlock(ctx, "prod", "U1", false, time.UnixMilli(1)); err != nil || r != (rdb.UnlockResult{}) {
		t.Fatalf("unlock of no lock: %+v, %v", r, err)
	}
	e.Lock(ctx, lock("prod", "U1", "why", 1, 100, 90))
	e.Lock(ctx, lock("stage", "U1", "why", 1, 100, 90))
	e.Lock(ctx, lock("qa", "U1", "why", 1, 100, 90))
	if r, err := e.Unlock(ctx, "prod", "U2", false, time.UnixMilli(2)); err != nil || r != (rdb.UnlockResult{Holder: "U1", Refused: true}) {
		t.Fatalf("unlock of another's lock: %+v, %v", r, err)
	}
	if l, _ := e.LockOf(ctx, "prod"); l.Holder != "U1" {
		t.Fatalf("a refused unlock freed it: %+v", l)
	}
	if r, err := e.Unlock(ctx, "prod", "U2", true, time.UnixMilli(3)); err != nil || r != (rdb.UnlockResult{Holder: "U1", Freed: true}) {
		t.Fatalf("forced unlock: %+v, %v", r, err)
	}
	if r, err := e.Unlock(ctx, "stage", "U1", false, time.UnixMilli(4)); err != nil || r != (rdb.UnlockResult{Holder: "U1", Freed: true}) {
		t.Fatalf("the holder's unlock: %+v, %v", r, err)
	}
	if r, err := e.Unlock(ctx, "qa", "U2", false, time.UnixMilli(100)); err != nil || r != (rdb.UnlockResult{Holder: "U1", Lapsed: true}) {
		t.Fatalf("unlock of a lapsed lock: %+v, %v", r, err)
	}
	for _, env := range []string{"prod", "stage", "qa"} {
		if l, _ := e.LockOf(ctx, env); l.Holder != "" {
			t.Errorf("%s still locked: %+v", env, l)
		}
	}
	a := f.stream(t, f.k.Audit())
	if len(a) != 6 || a[3]["action"] != "force-unlock" || a[3]["who"] != "U2" || a[3]["detail"] != "held by U1" ||
		a[4]["action"] != "unlock" || a[4]["env"] != "stage" || a[5]["action"] != "lock-expire" || a[5]["env"] != "qa" {
		t.Fatalf("audit %v: want three locks, a forced unlock, an unlock and an expiry", a)
	}
}

// expireLockScript: nothing before the expiry; at it, removed and audited
// once, whoever else sweeps too.
func TestExpireLock(t *testing.T) {
	f := newFixture(t)
	e := rdb.NewEnvs(f.c, f.k)
	if _, ok, err := e.Expire(ctx, "prod", time.UnixMilli(1)); err != nil || ok {
		t.Fatalf("expire of no lock: %v, %v", ok, err)
	}
	e.Lock(ctx, lock("prod", "U1", "why", 1000, 3000, 2500))
	if _, ok, err := e.Expire(ctx, "prod", time.UnixMilli(2999)); err != nil || ok {
		t.Fatalf("expire before the expiry: %v, %v", ok, err)
	}
	if l, _ := e.LockOf(ctx, "prod"); l.Holder != "U1" {
		t.Fatalf("a lock was removed before its time: %+v", l)
	}
	l, ok, err := e.Expire(ctx, "prod", time.UnixMilli(3000))
	if err != nil || !ok || l.Holder != "U1" || l.Channel != "C1" || l.Thread != "1.5" || l.Expires != time.UnixMilli(3000) {
		t.Fatalf("expire at the expiry: %+v, %v, %v", l, ok, err)
	}
	if _, ok, err := e.Expire(ctx, "prod", time.UnixMilli(3001)); err != nil || ok {
		t.Fatalf("a second sweep expired it again: %v, %v", ok, err)
	}
	if l, _ := e.LockOf(ctx, "prod"); l.Holder != "" {
		t.Fatalf("still locked: %+v", l)
	}
	a := f.stream(t, f.k.Audit())
	if len(a) != 2 || a[1]["action"] != "lock-expire" || a[1]["who"] != "gantry" || a[1]["detail"] != "held by U1" || a[1]["at"] != "3000" {
		t.Fatalf("audit %v: want the lock and one expiry", a)
	}
}

// remindScript: due at remind_at, once; again after the lock is renewed;
// never for a lapsed lock.
func TestRemindLock(t *testing.T) {
	f := newFixture(t)
	e := rdb.NewEnvs(f.c, f.k)
	e.Lock(ctx, lock("prod", "U1", "why", 1000, 3000, 2500))
	if _, ok, err := e.Remind(ctx, "prod", time.UnixMilli(2499)); err != nil || ok {
		t.Fatalf("remind early: %v, %v", ok, err)
	}
	if l, ok, err := e.Remind(ctx, "prod", time.UnixMilli(2500)); err != nil || !ok || l.Holder != "U1" || l.Channel != "C1" {
		t.Fatalf("remind when due: %+v, %v, %v", l, ok, err)
	}
	if _, ok, err := e.Remind(ctx, "prod", time.UnixMilli(2600)); err != nil || ok {
		t.Fatalf("reminded twice: %v, %v", ok, err)
	}
	e.Lock(ctx, lock("prod", "U1", "why", 2700, 6000, 5000))
	if _, ok, err := e.Remind(ctx, "prod", time.UnixMilli(5000)); err != nil || !ok {
		t.Fatalf("remind after renewal: %v, %v", ok, err)
	}
	e.Lock(ctx, lock("stage", "U1", "why", 1000, 3000, 2500))
	if _, ok, err := e.Remind(ctx, "stage", time.UnixMilli(3000)); err != nil || ok {
		t.Fatalf("reminded of a lapsed lock: %v, %v", ok, err)
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
