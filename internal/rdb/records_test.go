package rdb_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// createScript: numbers, the record, the lists, the queue, the event; the
// recent list loses what is older than Since.
func TestCreateWritesTheJobEverywhereAtOnce(t *testing.T) {
	f := newFixture(t)
	r := rdb.NewRecords(f.c, f.k, 1000, time.Hour)
	t0 := time.UnixMilli(1_000_000)
	if err := f.raw.ZAdd(ctx, f.k.Recent(), redisZ(t0.Add(-2*time.Hour), "99")).Err(); err != nil {
		t.Fatal(err)
	}
	build, err := r.Create(ctx, rdb.NewJob{State: "queued", Created: t0, Requester: "U1", Since: t0.Add(-time.Hour),
		Fields: []string{"kind", "build", "repo", "hello"}})
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := r.Create(ctx, rdb.NewJob{State: "awaiting_approval", Created: t0.Add(time.Second), Env: "prod",
		Since: t0.Add(-time.Hour), Fields: []string{"kind", "deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	if build != 1 || deploy != 2 {
		t.Fatalf("numbers %d, %d; want 1, 2", build, deploy)
	}
	if got, want := f.hash(t, f.k.Job(1)), map[string]string{"id": "1", "state": "queued", "kind": "build", "repo": "hello"}; !cmp.Equal(got, want) {
		t.Errorf("record: %s", cmp.Diff(want, got))
	}
	if got := f.raw.ZRange(ctx, f.k.Active(), 0, -1).Val(); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("active %v", got)
	}
	if got := f.raw.ZRange(ctx, f.k.Recent(), 0, -1).Val(); !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("recent %v: want the job older than Since gone", got)
	}
	if got := f.raw.LRange(ctx, f.k.User("U1"), 0, -1).Val(); !slices.Equal(got, []string{"1"}) {
		t.Errorf("U1's jobs %v", got)
	}
	if got := f.raw.LRange(ctx, f.k.Deploys("prod"), 0, -1).Val(); !slices.Equal(got, []string{"2"}) {
		t.Errorf("deploys to prod %v", got)
	}
	if got := f.raw.SMembers(ctx, f.k.EnvNames()).Val(); !slices.Equal(got, []string{"prod"}) {
		t.Errorf("environment names %v: want the deploy's", got)
	}
	if q := f.stream(t, f.k.Queue()); len(q) != 1 || q[0]["job"] != "1" {
		t.Errorf("queue %v: want only the queued job", q)
	}
	ev := f.stream(t, f.k.Events())
	want := []map[string]any{
		{"job": "1", "type": "state", "state": "queued", "text": ""},
		{"job": "2", "type": "state", "state": "awaiting_approval", "text": ""},
	}
	if !cmp.Equal(ev, want) {
		t.Errorf("events: %s", cmp.Diff(want, ev))
	}
}

// transitionScript: a move from an allowed state writes everything it
// says; a move from another state, or of no job, changes nothing.
func TestTransition(t *testing.T) {
	f := newFixture(t)
	r := rdb.NewRecords(f.c, f.k, 1000, time.Hour)
	f.job(t, 1, "state", "running")
	f.raw.ZAdd(ctx, f.k.Active(), redisZ(time.UnixMilli(1), "1"))

	m, err := r.Transition(ctx, 1, rdb.Move{From: []string{"queued"}, To: "failed", Type: "state"})
	if err != nil || m != (rdb.Moved{OK: false, Prev: "running"}) {
		t.Fatalf("move from a state it is not in: %+v, %v", m, err)
	}
	m, err = r.Transition(ctx, 7, rdb.Move{To: "failed", Type: "state"})
	if err != nil || m != (rdb.Moved{}) {
		t.Fatalf("move of no job: %+v, %v", m, err)
	}
	if n := f.raw.Exists(ctx, f.k.Job(7)).Val(); n != 0 {
		t.Fatal("a refused move of no job created it")
	}
	if ev := f.stream(t, f.k.Events()); len(ev) != 0 || f.hash(t, f.k.Job(1))["state"] != "running" {
		t.Fatalf("refused moves changed something: events %v, record %v", ev, f.hash(t, f.k.Job(1)))
	}

	due := time.UnixMilli(5000)
	m, err = r.Transition(ctx, 1, rdb.Move{From: []string{"queued", "running"}, To: "waiting", Due: due, Type: "retry",
		Text: "again", DeadLetter: true, Set: []string{"reason", "flaky"},
		Audit: &rdb.AuditEntry{Who: "U1", Action: "retry", Env: "prod", Detail: "why", At: time.UnixMilli(42)}})
	if err != nil || m != (rdb.Moved{OK: true, Prev: "running"}) {
		t.Fatalf("move: %+v, %v", m, err)
	}
	if rec := f.hash(t, f.k.Job(1)); rec["state"] != "waiting" || rec["reason"] != "flaky" {
		t.Errorf("record %v", rec)
	}
	if s := f.raw.ZScore(ctx, f.k.Scheduled(), "1").Val(); s != 5000 {
		t.Errorf("scheduled at %v, want 5000", s)
	}
	if d := f.raw.LRange(ctx, f.k.Dead(), 0, -1).Val(); !slices.Equal(d, []string{"1"}) {
		t.Errorf("dead letters %v", d)
	}
	if n, err := r.DeadTotal(ctx); n != 1 || err != nil {
		t.Errorf("dead letters counted: %d, %v", n, err)
	}
	if a := f.stream(t, f.k.Audit()); len(a) != 1 || a[0]["who"] != "U1" || a[0]["job"] != "1" || a[0]["at"] != "42" {
		t.Errorf("audit %v", a)
	}
	if ev := f.stream(t, f.k.Events()); len(ev) != 1 || ev[0]["type"] != "retry" || ev[0]["state"] != "waiting" || ev[0]["text"] != "again" {
		t.Errorf("events %v", ev)
	}

	// From nothing is any state that is not final; a final move leaves
	// the active list and starts the record's retention.
	if m, err := r.Transition(ctx, 1, rdb.Move{To: "succeeded", Enqueue: true, Type: "state"}); err != nil || !m.OK {
		t.Fatalf("move to succeeded: %+v, %v", m, err)
	}
	if f.raw.ZCard(ctx, f.k.Active()).Val() != 0 {
		t.Error("a final job is still active")
	}
	if ttl := f.raw.PTTL(ctx, f.k.Job(1)).Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("record TTL %v, want up to an hour", ttl)
	}
	if q := f.stream(t, f.k.Queue()); len(q) != 1 {
		t.Errorf("queue %v: want the job enqueued", q)
	}
	if m, err := r.Transition(ctx, 1, rdb.Move{To: "failed", Type: "state"}); err != nil || m != (rdb.Moved{Prev: "succeeded"}) {
		t.Fatalf("move of a final job from any state: %+v, %v", m, err)
	}
}

// finishScript: the move, the delivery acknowledged and the worker's own
// lease gone, also when the move is refused; another's lease stays.
func TestFinish(t *testing.T) {
	f := newFixture(t)
	r := rdb.NewRecords(f.c, f.k, 1000, time.Hour)
	q := rdb.NewQueue(f.c, f.k, 1000)
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 3; id++ {
		f.job(t, id, "state", "running")
		f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), id))
	}
	ds, err := q.Take(ctx, "w1", 10, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("take: %v, %v", ds, err)
	}
	f.raw.Set(ctx, f.k.Lease(1), "w1", time.Minute)
	f.raw.Set(ctx, f.k.Lease(2), "w1", time.Minute)
	f.raw.Set(ctx, f.k.Lease(3), "w2", time.Minute)
	f.job(t, 2, "state", "cancelled")

	if m, err := r.Finish(ctx, 1, rdb.Move{From: []string{"running"}, To: "succeeded", Type: "state"}, ds[0], "w1"); err != nil || !m.OK {
		t.Fatalf("finish: %+v, %v", m, err)
	}
	if m, err := r.Finish(ctx, 2, rdb.Move{From: []string{"running"}, To: "succeeded", Type: "state"}, ds[1], "w1"); err != nil || m != (rdb.Moved{Prev: "cancelled"}) {
		t.Fatalf("refused finish: %+v, %v", m, err)
	}
	if m, err := r.Finish(ctx, 3, rdb.Move{From: []string{"running"}, To: "succeeded", Type: "state"}, ds[2], "w1"); err != nil || !m.OK {
		t.Fatalf("finish under another's lease: %+v, %v", m, err)
	}
	if st := f.hash(t, f.k.Job(2))["state"]; st != "cancelled" {
		t.Errorf("a refused finish moved the job to %s", st)
	}
	if n := f.pending(t); n != 0 {
		t.Errorf("%d deliveries still pending", n)
	}
	if f.get(t, f.k.Lease(1)) != "" || f.get(t, f.k.Lease(2)) != "" {
		t.Error("the worker's own leases are still there")
	}
	if h := f.get(t, f.k.Lease(3)); h != "w2" {
		t.Errorf("another worker's lease is %q, want it kept", h)
	}

	// No such job: nothing acknowledged.
	f.raw.XAdd(ctx, redisXAdd(f.k.Queue(), 9))
	ds, _ = q.Take(ctx, "w1", 10, 0)
	if m, err := r.Finish(ctx, 9, rdb.Move{To: "succeeded", Type: "state"}, ds[0], "w1"); err != nil || m != (rdb.Moved{}) {
		t.Fatalf("finish of no job: %+v, %v", m, err)
	}
	if n := f.pending(t); n != 1 {
		t.Errorf("%d deliveries pending, want the one of no job", n)
	}

	// A deploy's delivery is acknowledged on the deploy stream it came from.
	deploys := f.k.QueueOf("deploy")
	f.job(t, 4, "state", "running", "class", "deploy")
	f.raw.XAdd(ctx, redisXAdd(deploys, 4))
	ds, _ = q.Take(ctx, "w1", 10, 0)
	if len(ds) != 1 || ds[0].Stream != deploys {
		t.Fatalf("take of a deploy: %+v", ds)
	}
	if m, err := r.Finish(ctx, 4, rdb.Move{To: "succeeded", Type: "state"}, ds[0], "w1"); err != nil || !m.OK {
		t.Fatalf("finish of a deploy: %+v, %v", m, err)
	}
	if p, err := f.raw.XPending(ctx, deploys, "workers").Result(); err != nil || p.Count != 0 {
		t.Errorf("deploy stream pending = %+v, %v; want its delivery acknowledged", p, err)
	}
}

// updateScript: fields written and announced; no job, nothing written.
func TestUpdate(t *testing.T) {
	f := newFixture(t)
	r := rdb.NewRecords(f.c, f.k, 1000, time.Hour)
	f.job(t, 1, "state", "running")
	if ok, err := r.Update(ctx, 1, "step", "step 2", []string{"step", "2"}); err != nil || !ok {
		t.Fatalf("update: %v, %v", ok, err)
	}
	if ok, err := r.Update(ctx, 1, "", "", []string{"handle", "h"}); err != nil || !ok {
		t.Fatalf("quiet update: %v, %v", ok, err)
	}
	if rec := f.hash(t, f.k.Job(1)); rec["step"] != "2" || rec["handle"] != "h" || rec["state"] != "running" {
		t.Errorf("record %v", rec)
	}
	want := []map[string]any{{"job": "1", "type": "step", "state": "running", "text": "step 2"}}
	if ev := f.stream(t, f.k.Events()); !cmp.Equal(ev, want) {
		t.Errorf("events: %s", cmp.Diff(want, ev))
	}
	if ok, err := r.Update(ctx, 2, "step", "x", []string{"step", "1"}); err != nil || ok {
		t.Fatalf("update of no job: %v, %v", ok, err)
	}
	if f.raw.Exists(ctx, f.k.Job(2)).Val() != 0 {
		t.Error("an update of no job created it")
	}
}

// listAfterScript: pages of the recent list; a job not in it is refused.
func TestAfter(t *testing.T) {
	f := newFixture(t)
	r := rdb.NewRecords(f.c, f.k, 1000, time.Hour)
	for id := int64(1); id <= 5; id++ {
		f.raw.ZAdd(ctx, f.k.Recent(), redisZ(time.UnixMilli(id), itoa(id)))
	}
	if ids, ok, err := r.After(ctx, 0, 2); err != nil || !ok || !slices.Equal(ids, []int64{5, 4}) {
		t.Fatalf("first page: %v, %v, %v", ids, ok, err)
	}
	if ids, ok, err := r.After(ctx, 4, 10); err != nil || !ok || !slices.Equal(ids, []int64{3, 2, 1}) {
		t.Fatalf("after 4: %v, %v, %v", ids, ok, err)
	}
	if ids, ok, err := r.After(ctx, 9, 2); err != nil || ok || ids != nil {
		t.Fatalf("after a job not listed: %v, %v, %v", ids, ok, err)
	}
}

// The group commit carries concurrent calls, and a script Redis lost (a
// restart, SCRIPT FLUSH) is loaded again.
func TestGroupCommitAndLostScripts(t *testing.T) {
	f := newFixture(t)
	r := rdb.NewRecords(f.c, f.k, 1000, time.Hour)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := r.Create(ctx, rdb.NewJob{State: "queued", Created: time.UnixMilli(1)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := f.raw.ZCard(ctx, f.k.Active()).Val(); n != 50 {
		t.Fatalf("%d jobs active, want 50", n)
	}
	if err := f.raw.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	for id := int64(1); id <= 20; id++ {
		wg.Go(func() {
			if m, err := r.Transition(ctx, id, rdb.Move{From: []string{"queued"}, To: "running", Type: "state"}); err != nil || !m.OK {
				t.Errorf("job #%d: %+v, %v", id, m, err)
			}
		})
	}
	wg.Wait()
	q := rdb.NewQueue(f.c, f.k, 1000)
	if err := f.raw.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	cs, err := q.Claim(ctx, []rdb.Delivery{{Job: 30, MsgID: "0-1"}}, "w1", time.Minute, time.Time{})
	if err != nil || len(cs) != 1 || cs[0].Status != rdb.ClaimLeased {
		t.Fatalf("claim after SCRIPT FLUSH: %+v, %v", cs, err)
	}
}
