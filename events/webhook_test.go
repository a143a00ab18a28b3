package events_test

import (
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// A receiver that fails twice (a 502, then a 429), then succeeds, gets
// every event once, in order, signed: the events behind the one that
// failed wait for it.
func TestWebhookFailsTwiceThenSucceeds(t *testing.T) {
	r := newRig(t)
	rc := newReceiver(t, 0)
	rc.failNext = 2
	ep := rc.endpoint()
	// All the events are queued before the first try.
	a, b := r.build(t, "alpha"), r.build(t, "beta")
	r.move(t, a.ID, jobs.Running, "")
	r.move(t, b.ID, jobs.Running, "")
	r.move(t, a.ID, jobs.Succeeded, "")
	box := eventsOut(r)
	if _, err := box.StartCursor(bg, "0-0"); err != nil {
		t.Fatal(err)
	}
	r.start(t, ep)

	got := rc.waitAccepted(t, 5, 20*time.Second)
	r.waitDrained(t, ep.Name())
	checkOnceInOrder(t, rc.got(), map[int64][]jobs.State{
		a.ID: {jobs.Queued, jobs.Running, jobs.Succeeded},
		b.ID: {jobs.Queued, jobs.Running},
	})
	if got[0].Event.Job != a.ID || got[0].Event.State != "queued" || got[1].Event.Job != b.ID {
		t.Errorf("the first event was not delivered first:%s", describe(got))
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if n := rc.tries[got[0].Delivery]; n != 3 {
		t.Errorf("the first event was tried %d times, want 3", n)
	}
}

// A receiver that fails each delivery twice (a 502, then a 429) gets every
// event once, in order per job, signed; the Retry-After it sends is
// honoured.
func TestWebhookRetriedOnceInOrderSigned(t *testing.T) {
	r := newRig(t)
	rc := newReceiver(t, 2)
	ep := rc.endpoint()
	r.start(t, ep)

	a, b := r.build(t, "alpha"), r.build(t, "beta")
	r.move(t, a.ID, jobs.Running, "")
	r.move(t, b.ID, jobs.Running, "")
	r.move(t, b.ID, jobs.Failed, "step 1 failed: exit 3")
	r.move(t, a.ID, jobs.Succeeded, "")

	got := rc.waitAccepted(t, 6, 20*time.Second)
	r.waitDrained(t, ep.Name())
	checkOnceInOrder(t, rc.got(), map[int64][]jobs.State{
		a.ID: {jobs.Queued, jobs.Running, jobs.Succeeded},
		b.ID: {jobs.Queued, jobs.Running, jobs.Failed},
	})
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id, n := range rc.tries {
		if n != 3 {
			t.Errorf("delivery %s tried %d times, want 3 (two failures, then accepted)", id, n)
		}
	}
	// The first event's 429 said Retry-After: 1.
	first := rc.times[got[0].Delivery]
	if len(first) == 3 && first[2].Sub(first[1]) < time.Second {
		t.Errorf("the retry after a Retry-After: 1 came %v later", first[2].Sub(first[1]))
	}
	// The fields of one event.
	var failed *received
	for i := range got {
		if got[i].Event.Job == b.ID && got[i].Event.State == "failed" {
			failed = &got[i]
		}
	}
	if failed == nil {
		t.Fatal("no failed event")
	}
	e := failed.Event
	if e.Kind != "build" || e.Repo != "beta" || e.Ref != "main" || e.SHA != b.SHA || e.Requester != "U1" || e.Attempt != 1 ||
		e.Reason != "step 1 failed: exit 3" || e.URL == "" || e.Time.IsZero() || e.ID == "" || e.Env != "" {
		t.Errorf("failed event %+v", e)
	}
	if failed.Delivery != e.ID+"."+ep.Name() {
		t.Errorf("delivery id %q for event %q", failed.Delivery, e.ID)
	}
}

// Deliveries pending when the sender stops are delivered by the next one,
// with the events announced while none ran: nothing lost, nothing twice,
// even with two processes publishing after the restart.
func TestWebhookSurvivesRestart(t *testing.T) {
	r := newRig(t)
	rc := newReceiver(t, 0)
	ep := rc.endpoint()
	p := r.start(t, ep)

	a := r.build(t, "alpha")
	rc.waitAccepted(t, 1, 10*time.Second)
	rc.setDown(true)
	b := r.build(t, "beta")
	r.move(t, a.ID, jobs.Running, "")
	r.move(t, b.ID, jobs.Running, "")
	box := eventsOut(r)
	waitFor(t, 10*time.Second, func() bool { n, _ := box.Depth(bg, ep.Name()); return n == 3 },
		func() string { n, _ := box.Depth(bg, ep.Name()); return "deliveries waiting: " + itoa(n) + ", want 3" })
	p.stop()

	// While no gantry publishes, jobs move on.
	r.move(t, a.ID, jobs.Succeeded, "")
	r.move(t, b.ID, jobs.Cancelled, "cancelled by U2")
	rc.setDown(false)
	r.start(t, ep)
	r.start(t, rc.endpoint()) // a second process, for the same endpoint

	rc.waitAccepted(t, 6, 20*time.Second)
	r.waitDrained(t, ep.Name())
	checkOnceInOrder(t, rc.got(), map[int64][]jobs.State{
		a.ID: {jobs.Queued, jobs.Running, jobs.Succeeded},
		b.ID: {jobs.Queued, jobs.Running, jobs.Cancelled},
	})
}
