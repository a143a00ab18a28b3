package events_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/events"
	"github.com/gantry-ci/gantry/jobs"
)

// fakeEndpoint answers each Send with what answer says.
type fakeEndpoint struct {
	name   string
	answer func(ev events.Outgoing) error
	mu     sync.Mutex
	sent   []events.Outgoing
}

func (f *fakeEndpoint) Name() string { return f.name }
func (f *fakeEndpoint) Batch() int   { return 1 }
func (f *fakeEndpoint) Send(_ context.Context, evs []events.Outgoing) []error {
	errs := make([]error, len(evs))
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, ev := range evs {
		f.sent = append(f.sent, ev)
		errs[i] = f.answer(ev)
	}
	return errs
}

// An event the endpoint refuses is dead-lettered at once; one that keeps
// failing, once it is older than MaxAge; neither holds up the events after
// it, and each is counted.
func TestDeadLetters(t *testing.T) {
	r := newRig(t)
	var dead atomic.Int64
	ep := &fakeEndpoint{name: "fake"}
	ep.answer = func(ev events.Outgoing) error {
		switch ev.Type {
		case "build.running":
			return errors.Join(errors.New("410 Gone"), events.ErrPermanent)
		case "build.queued":
			return errors.New("connection refused")
		}
		return nil
	}
	r.startWith(t, func(_ *events.PublisherConfig, sc *events.SenderConfig) {
		sc.MaxAge = 300 * time.Millisecond
		sc.Dead = func(string) { dead.Add(1) }
	}, ep)
	a := r.build(t, "alpha")
	r.move(t, a.ID, jobs.Running, "")
	r.move(t, a.ID, jobs.Succeeded, "")
	waitFor(t, 10*time.Second, func() bool {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		return dead.Load() == 2 && len(ep.sent) > 0 && ep.sent[len(ep.sent)-1].Type == "build.succeeded"
	}, func() string { return "dead " + itoa(dead.Load()) })
	r.waitDrained(t, "fake")
	dls, err := eventsOut(r).DeadLetters(bg, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dls) != 2 || dead.Load() != 2 {
		t.Fatalf("dead letters %+v (counted %d), want the queued and running events", dls, dead.Load())
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	last := ep.sent[len(ep.sent)-1]
	if last.Type != "build.succeeded" {
		t.Errorf("last sent %s", last.Type)
	}
}

// Events beyond an endpoint's MaxQueue are dropped, counted and logged;
// those before are kept.
func TestFullQueueDrops(t *testing.T) {
	r := newRig(t)
	var dropped atomic.Int64
	ep := &fakeEndpoint{name: "slow", answer: func(events.Outgoing) error { return errors.New("503") }}
	r.startWith(t, func(pc *events.PublisherConfig, sc *events.SenderConfig) {
		pc.MaxQueue = 2
		pc.Dropped = func(string) { dropped.Add(1) }
		sc.Backoff, sc.MaxBackoff = time.Hour, time.Hour
	}, ep)
	a := r.build(t, "alpha")
	r.move(t, a.ID, jobs.Running, "")
	r.move(t, a.ID, jobs.Succeeded, "")
	waitFor(t, 10*time.Second, func() bool { return dropped.Load() == 1 }, func() string { return "dropped " + itoa(dropped.Load()) })
	if n, _ := eventsOut(r).Depth(bg, "slow"); n != 2 {
		t.Errorf("depth %d, want 2", n)
	}
}
