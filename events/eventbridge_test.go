package events_test

import (
	"encoding/json"
	"testing"
	"time"

	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/gantry-ci/gantry/events"
	"github.com/gantry-ci/gantry/events/eventbridge"
	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/jobs"
)

// Events reach EventBridge with gantry's source, a detail-type per event
// type and the event as detail, in batches; an entry that fails in a
// partial failure is put again, and only it.
func TestEventBridgePutEvents(t *testing.T) {
	aws := awsserver.New(t)
	bus := eventbridge.New(awseb.NewFromConfig(aws.AWSConfig()), eventbridge.Config{Bus: "ci", Source: "acme.gantry"})
	if bus.Name() != "eventbridge-ci" {
		t.Errorf("Name() = %q", bus.Name())
	}
	// Of the first call, the second entry fails.
	aws.FailEntries(awsserver.EntryFailure{}, awsserver.EntryFailure{Code: "InternalFailure", Message: "try again"})
	r := newRig(t)
	r.start(t, bus)

	a := r.build(t, "alpha")
	r.move(t, a.ID, jobs.Running, "")
	r.move(t, a.ID, jobs.Succeeded, "")

	var entries []awsserver.EventBridgeEntry
	waitFor(t, 20*time.Second, func() bool { entries = aws.EventBridgeEntries(); return len(entries) >= 3 },
		func() string { return "EventBridge has " + itoa(int64(len(entries))) + " entries, want 3" })
	r.waitDrained(t, bus.Name())
	entries = aws.EventBridgeEntries()
	byState := map[string]events.Event{}
	for _, e := range entries {
		var ev events.Event
		if err := json.Unmarshal([]byte(e.Detail), &ev); err != nil {
			t.Fatalf("detail %q: %v", e.Detail, err)
		}
		if _, twice := byState[ev.State]; twice {
			t.Errorf("event %s put twice", ev.Type)
		}
		byState[ev.State] = ev
		if e.Source != "acme.gantry" || e.Bus != "ci" || e.DetailType != events.DetailType(ev.Type) || e.Time.Sub(ev.Time).Abs() > time.Millisecond {
			t.Errorf("entry %+v for %s", e, ev.Type)
		}
	}
	if len(entries) != 3 || events.DetailType(byState["running"].Type) != "gantry build running" || byState["succeeded"].PreviousState != "running" {
		t.Errorf("entries %+v", entries)
	}
	// The entry that failed was put in two calls, the others in one each.
	calls := map[string]int{}
	for _, c := range aws.Calls("PutEvents") {
		var in struct{ Entries []struct{ Detail string } }
		if err := c.Decode(&in); err != nil {
			t.Fatal(err)
		}
		for _, e := range in.Entries {
			var ev events.Event
			_ = json.Unmarshal([]byte(e.Detail), &ev)
			calls[ev.State]++
		}
	}
	failed := 0
	for st, n := range calls {
		if n == 2 {
			failed++
		} else if n != 1 {
			t.Errorf("%s was in %d PutEvents calls", st, n)
		}
	}
	if failed != 1 {
		t.Errorf("the entry that failed was not put again alone: %v", calls)
	}
}
