package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/events"
	"github.com/gantry-ci/gantry/events/webhook"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/spec"
)

var bg = context.Background()

// rig is a job store on a Redis of its own.
type rig struct {
	redis *redistest.Server
	rdb   *rdb.Client
	store *jobs.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	srv := redistest.Start(t)
	c := srv.RDB()
	return &rig{redis: srv, rdb: c, store: jobs.NewStore(c, jobs.StoreConfig{})}
}

// process is what one gantry process runs to publish events: a Publisher
// and a Sender, with short waits.
type process struct {
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// start runs a Publisher and a Sender for endpoints (each taking every
// type) until stop or the end of the test.
func (r *rig) start(t *testing.T, endpoints ...events.Endpoint) *process {
	t.Helper()
	return r.startWith(t, nil, endpoints...)
}

// startWith is start with the configs changed by tune.
func (r *rig) startWith(t *testing.T, tune func(*events.PublisherConfig, *events.SenderConfig), endpoints ...events.Endpoint) *process {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	var routes []events.Route
	for _, e := range endpoints {
		routes = append(routes, events.Route{Endpoint: e.Name()})
	}
	sc := events.SenderConfig{
		Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, Poll: 20 * time.Millisecond, Lease: 5 * time.Second, Logger: logger,
	}
	pc := events.PublisherConfig{
		Routes: routes, Poll: 20 * time.Millisecond, Lease: 2 * time.Second, Logger: logger,
		Links: func(id int64) string { return fmt.Sprintf("https://gantry.example/jobs/%d?sig=x", id) },
	}
	if tune != nil {
		tune(&pc, &sc)
	}
	snd := events.NewSender(r.rdb, endpoints, sc)
	pc.Queued = snd.Wake
	pub := events.NewPublisher(r.store, r.rdb, pc)
	if err := pub.Start(bg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(bg)
	p := &process{cancel: cancel}
	p.done.Add(2)
	go func() { defer p.done.Done(); _ = pub.Run(ctx) }()
	go func() { defer p.done.Done(); snd.Run(ctx) }()
	t.Cleanup(p.stop)
	return p
}

func (p *process) stop() {
	p.cancel()
	p.done.Wait()
}

// testWriter sends a logger's lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Logf("%s", b)
	return len(b), nil
}

// build creates a queued build of repo.
func (r *rig) build(t *testing.T, repo string) *jobs.Job {
	t.Helper()
	j := &jobs.Job{Kind: jobs.Build, Repo: repo, Ref: "main", SHA: "0123456789abcdef0123456789abcdef01234567", Source: jobs.SourceDir,
		Path: t.TempDir(), Plan: spec.Plan{Name: "branch", Timeout: time.Minute}, Requester: "U1", Origin: "chat", Channel: "C1"}
	if err := r.store.Create(bg, j); err != nil {
		t.Fatal(err)
	}
	return j
}

// move moves job id to state.
func (r *rig) move(t *testing.T, id int64, to jobs.State, why string) {
	t.Helper()
	c := jobs.Change{To: to, Text: say.Words(why)}
	if to.Final() {
		c.Set = jobs.Set().Reason(say.Words(why))
	}
	if _, err := r.store.Transition(bg, id, c); err != nil {
		t.Fatalf("move #%d to %s: %v", id, to, err)
	}
}

// received is a delivery the receiver accepted.
type received struct {
	Delivery string
	Event    events.Event
}

// receiver is a webhook receiver that checks every signature, fails each
// delivery's first tries as told, and records what it accepted.
type receiver struct {
	t      *testing.T
	secret []byte
	srv    *httptest.Server

	mu       sync.Mutex
	failFor  int // tries of each delivery that fail: a 502, then 429s
	failNext int // requests that fail next, whichever delivery: a 502, then 429s
	requests int
	down     bool           // every request fails with a 503
	tries    map[string]int // delivery id -> requests
	accepted []received
	times    map[string][]time.Time // delivery id -> when its requests came
}

func newReceiver(t *testing.T, failFor int) *receiver {
	rc := &receiver{t: t, secret: []byte("events-test-secret"), failFor: failFor, tries: map[string]int{}, times: map[string][]time.Time{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) endpoint() *webhook.Webhook {
	return webhook.New(webhook.Config{URL: rc.srv.URL + "/hook", Secret: rc.secret, Timeout: 2 * time.Second})
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !webhook.Verify(rc.secret, body, r.Header.Get(webhook.SignatureHeader)) {
		rc.t.Errorf("a delivery with a bad signature %q: %s", r.Header.Get(webhook.SignatureHeader), body)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var ev events.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		rc.t.Errorf("a delivery that is not an event: %v: %s", err, body)
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if got := r.Header.Get(webhook.EventHeader); got != ev.Type {
		rc.t.Errorf("%s header %q, body type %q", webhook.EventHeader, got, ev.Type)
	}
	id := r.Header.Get(webhook.DeliveryHeader)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.tries[id]++
	rc.requests++
	rc.times[id] = append(rc.times[id], time.Now())
	switch {
	case rc.down:
		http.Error(w, "down", http.StatusServiceUnavailable)
	case rc.tries[id] <= rc.failFor && rc.tries[id] == 1, rc.failNext > 0 && rc.requests == 1:
		rc.failNext--
		http.Error(w, "try later", http.StatusBadGateway)
	case rc.tries[id] <= rc.failFor, rc.failNext > 0:
		rc.failNext--
		if len(rc.accepted) == 0 {
			w.Header().Set("Retry-After", "1") // the first event: Retry-After is honoured
		}
		http.Error(w, "slow down", http.StatusTooManyRequests)
	default:
		rc.accepted = append(rc.accepted, received{Delivery: id, Event: ev})
		w.WriteHeader(http.StatusNoContent)
	}
}

func (rc *receiver) setDown(down bool) {
	rc.mu.Lock()
	rc.down = down
	rc.mu.Unlock()
}

func (rc *receiver) got() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.accepted...)
}

// waitFor polls cond until it holds, failing with what() after within.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, what())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitAccepted waits until the receiver has accepted n deliveries.
func (rc *receiver) waitAccepted(t *testing.T, n int, within time.Duration) []received {
	t.Helper()
	waitFor(t, within, func() bool { return len(rc.got()) >= n }, func() string {
		return fmt.Sprintf("the receiver accepted %d deliveries, want %d: %s", len(rc.got()), n, describe(rc.got()))
	})
	return rc.got()
}

// waitDrained waits until nothing waits for endpoint.
func (r *rig) waitDrained(t *testing.T, endpoint string) {
	t.Helper()
	box := rdb.NewEventsOut(r.rdb, "")
	var n int64
	waitFor(t, 10*time.Second, func() bool {
		n, _ = box.Depth(bg, endpoint)
		return n == 0
	}, func() string { return fmt.Sprintf("%d deliveries still wait for %s", n, endpoint) })
}

func describe(rs []received) string {
	s := ""
	for _, r := range rs {
		s += fmt.Sprintf("\n  #%d %s (from %q) %s", r.Event.Job, r.Event.State, r.Event.PreviousState, r.Delivery)
	}
	return s
}

// checkOnceInOrder checks that got has each delivery once and, per job,
// the states of want in that order with the previous states between them.
func checkOnceInOrder(t *testing.T, got []received, want map[int64][]jobs.State) {
	t.Helper()
	seen := map[string]bool{}
	perJob := map[int64][]events.Event{}
	for _, r := range got {
		if seen[r.Delivery] {
			t.Errorf("delivery %s accepted twice", r.Delivery)
		}
		seen[r.Delivery] = true
		perJob[r.Event.Job] = append(perJob[r.Event.Job], r.Event)
	}
	for id, states := range want {
		evs := perJob[id]
		if len(evs) != len(states) {
			t.Errorf("job #%d: %d events, want %d (%v): %s", id, len(evs), len(states), states, describe(got))
			continue
		}
		prev := ""
		for i, st := range states {
			e := evs[i]
			if e.State != string(st) || e.PreviousState != prev || e.Type != "build."+string(st) || e.Version != 1 {
				t.Errorf("job #%d event %d: %s %s from %q (v%d), want %s from %q", id, i, e.Type, e.State, e.PreviousState, e.Version, st, prev)
			}
			prev = string(st)
		}
	}
	if len(got) != len(seen) {
		t.Errorf("%d deliveries accepted, %d different", len(got), len(seen))
	}
}

func eventsOut(r *rig) *rdb.EventsOut { return rdb.NewEventsOut(r.rdb, "") }

func itoa(n int64) string { return fmt.Sprint(n) }
