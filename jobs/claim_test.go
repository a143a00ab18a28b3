package jobs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
)

// takeAll reads every delivery waiting in the queue as consumer.
func takeAll(t *testing.T, q *jobs.Queue, consumer string) []jobs.Delivery {
	t.Helper()
	ds, err := q.Take(context.Background(), consumer, 100, 10*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// The claim that starts a worker's jobs leases each job only if no other
// worker holds it: a job never runs on two workers at once. What another
// holds stays untouched and pending; the holder's own claim renews.
func TestClaimLeavesJobsLeasedByAnother(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := jobs.NewQueue(e.store)
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	held, free := shellJob(t, "true"), shellJob(t, "true")
	for _, j := range []*jobs.Job{held, free} {
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := q.Lease(ctx, held.ID, "worker-a", time.Minute); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	ds := takeAll(t, q, "worker-b")
	cs, err := q.Claim(ctx, ds, "worker-b", time.Minute, true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int64]jobs.Claim{}
	for _, c := range cs {
		got[c.Delivery.Job] = c
	}
	if c := got[held.ID]; c.Job != nil || c.Holder != "worker-a" || c.Started {
		t.Errorf("claim of the job worker-a holds: job %v, holder %q, started %v; want none, worker-a, no", c.Job, c.Holder, c.Started)
	}
	if h, _ := q.LeaseHolder(ctx, held.ID); h != "worker-a" {
		t.Errorf("after worker-b's claim the lease is %q's, want worker-a's", h)
	}
	if j, _ := e.store.Get(ctx, held.ID); j.State != jobs.Queued {
		t.Errorf("the held job is %s after worker-b's claim, want queued", j.State)
	}
	if c := got[free.ID]; c.Job == nil || !c.Started || c.Job.State != jobs.Running || c.Job.Started.IsZero() {
		t.Errorf("claim of the free job: %+v; want it leased and running, with its start", c)
	}
	if h, _ := q.LeaseHolder(ctx, free.ID); h != "worker-b" {
		t.Errorf("lease of the free job is %q's, want worker-b's", h)
	}
	// The delivery of the held job stays pending, for when its holder dies.
	if _, pending, err := q.Depth(ctx); err != nil || pending != 2 {
		t.Errorf("pending deliveries = %d (%v), want 2", pending, err)
	}
	// worker-a's own claim of the job it holds renews its lease.
	cs, err = q.Claim(ctx, []jobs.Delivery{got[held.ID].Delivery}, "worker-a", time.Minute, false)
	if err != nil || cs[0].Job == nil || cs[0].Started {
		t.Fatalf("worker-a's claim of its own job: %+v, %v", cs, err)
	}
	var running int
	for _, ev := range allEvents(t, e.store) {
		if ev.State == jobs.Running {
			running++
		}
	}
	if running != 1 {
		t.Errorf("%d announcements of a job running, want 1 (the free job's)", running)
	}
}

// A claim acknowledges the deliveries of jobs that have nothing left to
// run, starts nothing that was cancelled, and without start leaves the
// state alone.
func TestClaimOfJobsThatMustNotStart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := jobs.NewQueue(e.store)
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	ended, cancelled, plain := shellJob(t, "true"), shellJob(t, "true"), shellJob(t, "true")
	for _, j := range []*jobs.Job{ended, cancelled, plain} {
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.store.Cancel(ctx, ended.ID, "U9"); err != nil {
		t.Fatal(err)
	}
	// A job waiting at a gate when someone cancels it.
	if _, err := e.store.Transition(ctx, cancelled.ID, jobs.Change{From: []jobs.State{jobs.Queued}, To: jobs.Waiting}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Cancel(ctx, cancelled.ID, "U9"); err != nil {
		t.Fatal(err)
	}
	ds := takeAll(t, q, "worker-a")
	cs, err := q.Claim(ctx, ds, "worker-a", time.Minute, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		switch c.Delivery.Job {
		case ended.ID:
			if c.Job != nil {
				t.Errorf("a cancelled job was claimed to run: %+v", c)
			}
			if h, _ := q.LeaseHolder(ctx, ended.ID); h != "" {
				t.Errorf("a cancelled job was leased to %q", h)
			}
		case cancelled.ID:
			if c.Job == nil || c.Started || c.Job.State != jobs.Waiting || c.CancelBy == nil || c.CancelBy.By != "U9" {
				t.Errorf("claim of a waiting job with a cancel: %+v; want it leased, waiting, with the cancel", c)
			}
		case plain.ID:
			if c.Job == nil || !c.Started {
				t.Errorf("claim of a queued job: %+v; want it started", c)
			}
		}
	}
	if _, pending, _ := q.Depth(ctx); pending != 2 {
		t.Errorf("pending deliveries = %d, want 2: the ended job's is acknowledged", pending)
	}

	// Without start, a worker with gates moves the job itself.
	later := shellJob(t, "true")
	if err := e.store.Create(ctx, later); err != nil {
		t.Fatal(err)
	}
	cs, err = q.Claim(ctx, takeAll(t, q, "worker-a"), "worker-a", time.Minute, false)
	if err != nil || len(cs) != 1 || cs[0].Job == nil || cs[0].Started || cs[0].Job.State != jobs.Queued {
		t.Fatalf("claim without start: %+v, %v; want the job leased and still queued", cs, err)
	}
}

// Renewing leases is refused for a lease another worker took: the renewal
// reports it lost and leaves it. The holder's renewals keep the lease and
// report cancels.
func TestRenewReportsLeasesTakenByAnother(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := jobs.NewQueue(e.store)
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := shellJob(t, "true"), shellJob(t, "true")
	for _, j := range []*jobs.Job{a, b} {
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
	}
	ds := takeAll(t, q, "worker-a")
	if _, err := q.Claim(ctx, ds, "worker-a", 300*time.Millisecond, true); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Client().Set(ctx, rdb.NewKeys("").Lease(b.ID), "worker-b", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.Cancel(ctx, a.ID, "U9"); err != nil {
		t.Fatal(err)
	}
	rs, err := q.Renew(ctx, ds, "worker-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range ds {
		switch d.Job {
		case a.ID:
			if rs[i].Lost || rs[i].CancelBy == nil || rs[i].CancelBy.By != "U9" {
				t.Errorf("renewal of worker-a's own job: %+v; want kept, with the cancel", rs[i])
			}
		case b.ID:
			if !rs[i].Lost || rs[i].Holder != "worker-b" {
				t.Errorf("renewal of the job worker-b took: %+v; want lost to worker-b", rs[i])
			}
		}
	}
	if h, _ := q.LeaseHolder(ctx, b.ID); h != "worker-b" {
		t.Errorf("lease of the taken job is %q's after worker-a's renewal, want worker-b's", h)
	}
	// The renewal made worker-a's lease last a minute, not 300ms.
	time.Sleep(500 * time.Millisecond)
	if h, _ := q.LeaseHolder(ctx, a.ID); h != "worker-a" {
		t.Errorf("lease of worker-a's job is %q's after its renewal, want worker-a's", h)
	}
}

// A worker whose lease another worker took stops the job's step at once,
// and leaves the job's record and delivery to the other.
func TestWorkerStopsJobWhoseLeaseAnotherTook(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	started, stopped := make(chan struct{}), make(chan error, 1)
	runWorker(t, e, funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) {
		close(started)
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return 0, ctx.Err()
	}), jobs.WorkerConfig{Name: "worker-a", LeaseTTL: 600 * time.Millisecond, Concurrency: 1})
	j := shellJob(t, "true")
	if err := e.store.Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not start")
	}
	if err := e.srv.Client().Set(ctx, rdb.NewKeys("").Lease(j.ID), "worker-b", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-stopped:
		if cause != jobs.ErrLeaseLost {
			t.Errorf("the job was stopped with %v, want ErrLeaseLost", cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the job went on after another worker took its lease")
	}
	time.Sleep(300 * time.Millisecond) // the worker has let go of the job
	got, err := e.store.Get(ctx, j.ID)
	if err != nil || got.State != jobs.Running {
		t.Errorf("the job is %v (%v) after its worker lost it, want still running: it is the other worker's", got.State, err)
	}
	if h, _ := jobs.NewQueue(e.store).LeaseHolder(ctx, j.ID); h != "worker-b" {
		t.Errorf("lease holder %q, want worker-b", h)
	}
}

// A job's end is recorded and announced, its delivery acknowledged and its
// lease released, together: nothing of a finished job is left held.
func TestJobEndReleasesLeaseAndDeliveryTogether(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := jobs.NewQueue(e.store)
	runWorker(t, e, funcRunner(func(ctx context.Context, x *jobs.Execution) (int, error) { return 0, nil }),
		jobs.WorkerConfig{Name: "worker-a", Concurrency: 8})
	var ids []int64
	for range 20 {
		j := shellJob(t, "true")
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	for _, id := range ids {
		waitState(t, e.store, id, jobs.Succeeded, 10*time.Second)
	}
	waitQueueEmpty(t, q, 10*time.Second)
	for _, id := range ids {
		if h, _ := q.LeaseHolder(ctx, id); h != "" {
			t.Errorf("job #%d ended with its lease held by %q", id, h)
		}
	}
	states := map[int64][]jobs.State{}
	for _, ev := range allEvents(t, e.store) {
		if ev.Type == jobs.EventState {
			states[ev.Job] = append(states[ev.Job], ev.State)
		}
	}
	for _, id := range ids {
		if fmt.Sprint(states[id]) != "[queued running succeeded]" {
			t.Errorf("job #%d announced %v, want [queued running succeeded]", id, states[id])
		}
	}
}

// Trim cuts the queue stream up to the oldest entry that is pending or
// not yet delivered, and no further.
func TestTrimKeepsPendingAndUndeliveredEntries(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	q := jobs.NewQueue(e.store)
	if err := q.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := q.Trim(ctx); err != nil || n != 0 {
		t.Fatalf("trim of an empty queue: %d, %v", n, err)
	}
	rc := e.srv.Client()
	stream := rdb.NewKeys("").Queue()
	for i := 1; i <= 300; i++ {
		if err := rc.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"job", i}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := q.Take(ctx, "c", 250, 0)
	if err != nil || len(ds) != 250 {
		t.Fatalf("take: %d, %v", len(ds), err)
	}
	for _, d := range ds[:200] {
		if err := q.Done(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := rc.XLen(ctx, stream).Result()
	if err != nil || n < 100 || n >= 300 {
		t.Fatalf("after the trim the stream has %d entries (%v): want the 100 not acknowledged, and fewer than 300", n, err)
	}
	// The pending deliveries still have their entries: a worker that
	// reclaims them finds their jobs.
	got, err := q.Reclaim(ctx, "d", 0, 100)
	if err != nil || len(got) != 50 || got[0].Job != 201 || got[49].Job != 250 {
		t.Fatalf("reclaimed %d deliveries (%v), want jobs 201 to 250", len(got), err)
	}
	rest, err := q.Take(ctx, "d", 100, 0)
	if err != nil || len(rest) != 50 || rest[0].Job != 251 {
		t.Fatalf("took %d deliveries (%v), want jobs 251 to 300", len(rest), err)
	}
	if waiting, pending, err := q.Depth(ctx); err != nil || waiting != 0 || pending != 100 {
		t.Errorf("depth: %d waiting, %d pending (%v); want 0 and 100", waiting, pending, err)
	}
}

// Many goroutines' transitions at once go out in shared pipelines and all
// land; so do they after Redis has lost its scripts.
func TestConcurrentTransitionsAllLand(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []int64
	for range 200 {
		j := &jobs.Job{Kind: jobs.Build, Repo: "app", Requester: "U1"}
		if err := e.store.Create(ctx, j); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	move := func(from, to jobs.State) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(ids))
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.store.Transition(ctx, id, jobs.Change{From: []jobs.State{from}, To: to}); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("%s to %s: %v", from, to, err)
		}
	}
	move(jobs.Queued, jobs.Running)
	if err := e.srv.Client().ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	move(jobs.Running, jobs.Succeeded)
	for _, id := range ids {
		if j, err := e.store.Get(ctx, id); err != nil || j.State != jobs.Succeeded {
			t.Fatalf("job #%d: %v, %v", id, j, err)
		}
	}
}

// A job that prints nothing costs its log no call to Redis: its writer
// closes at once even while Redis is away.
func TestSilentJobLogWriterNeedsNoRedis(t *testing.T) {
	e := newEnv(t)
	if !e.srv.Real {
		t.Fatal("this test needs a real redis-server to stop: install redis-server")
	}
	e.srv.Stop()
	defer e.srv.StartAgain()
	w := e.log.Writer(context.Background(), 7)
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("closing a writer that had no output waited for Redis")
	}
	w.Line("too late")
	if w.Dropped() == 0 {
		t.Error("output after Close is not counted as dropped")
	}
}
