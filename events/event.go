// Package events publishes the state changes of jobs to the endpoints of
// the server config's events: signed HTTP webhooks (events/webhook) and
// Amazon EventBridge (events/eventbridge). The schema of an event is in
// docs/events.md.
//
// A Publisher turns the announcements on the job events stream into
// deliveries, one per endpoint that takes the event's type, kept in Redis
// (rdb.EventsOut); a Sender delivers them, in order per endpoint, with
// retries and backoff, and dead-letters those it gives up on. Both run in
// every gantry process that reads job events (serve, bot, console); Redis
// leases make each event queued once and each endpoint served by one
// process at a time.
package events

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

// SchemaVersion is the version of Event's JSON. Fields may be added
// within a version; none is removed or changes meaning.
const SchemaVersion = 1

// Event is one state change of a job, as endpoints get it.
type Event struct {
	Version       int       `json:"version"`
	ID            string    `json:"id"`   // unique and stable: the same on every retry and every endpoint
	Type          string    `json:"type"` // KIND.STATE, e.g. build.succeeded; KIND.retrying when an errored run is tried again
	Time          time.Time `json:"time"` // when the job changed state
	Job           int64     `json:"job"`
	Kind          string    `json:"kind"` // build or deploy
	Repo          string    `json:"repo"`
	Ref           string    `json:"ref,omitempty"`
	SHA           string    `json:"sha,omitempty"`
	Env           string    `json:"env,omitempty"` // deploys
	State         string    `json:"state"`
	PreviousState string    `json:"previous_state,omitempty"` // "" for the first
	Reason        string    `json:"reason,omitempty"`         // what happened, as the thread says it
	Requester     string    `json:"requester,omitempty"`      // Slack user id or console user; "" for jobs GitHub started
	URL           string    `json:"url,omitempty"`            // the job's page (a signed link when pages are not public)
	Attempt       int       `json:"attempt"`                  // 1 on the first run
}

// Type is the event type of a job event of kind in state: build.failed.
func Type(kind jobs.Kind, state string) string { return string(kind) + "." + state }

// DetailType is the EventBridge detail-type of event type typ:
// "gantry build succeeded".
func DetailType(typ string) string {
	return "gantry " + strings.ReplaceAll(strings.ReplaceAll(typ, ".", " "), "_", " ")
}

// streamTime is the time of an events stream id, "MS-SEQ".
func streamTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// newEvent is the Event for announcement e of job j, which was in state
// prev before.
func newEvent(e jobs.Event, j *jobs.Job, prev string, link string) Event {
	state := string(e.State)
	typ := Type(j.Kind, state)
	if e.Type == jobs.EventRetry {
		typ = Type(j.Kind, "retrying")
	}
	reason := e.Text.String()
	if reason == "" && j.State == e.State {
		reason = j.Reason.String()
	}
	return Event{
		Version: SchemaVersion, ID: e.ID, Type: typ, Time: streamTime(e.ID), Job: j.ID, Kind: string(j.Kind),
		Repo: j.Repo, Ref: j.Ref, SHA: j.SHA, Env: j.Env, State: state, PreviousState: prev,
		Reason: reason, Requester: j.Requester, URL: link, Attempt: max(j.Attempt, 1),
	}
}

// Outgoing is an event as a Sender hands it to an endpoint.
type Outgoing struct {
	ID       string    // the event's id
	Delivery string    // the delivery's id: the event's and the endpoint's, the same on every retry
	Type     string    // the event's type
	Time     time.Time // the event's time
	Job      int64
	Body     []byte // the event's JSON, exactly as signed and sent on every try
}

// delivery is an event waiting for one endpoint, as its queue keeps it.
type delivery struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	Time      time.Time       `json:"time"`
	Job       int64           `json:"job"`
	Body      json.RawMessage `json:"body"`
	Queued    time.Time       `json:"queued"`
	Tries     int             `json:"tries,omitempty"` // tries that failed
	LastError string          `json:"last_error,omitempty"`
}
