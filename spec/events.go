package spec

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Events says where gantry publishes the state changes of jobs (see
// docs/events.md). With no webhook and no EventBridge bus nothing is
// published.
type Events struct {
	Webhooks    []Webhook
	EventBridge *EventBridge // nil: no EventBridge
	// MaxAge is how long an event may wait for an endpoint, tried again
	// and again, before it is dead-lettered; 0 is 24h.
	MaxAge time.Duration
	// MaxQueue is how many events may wait for one endpoint; events beyond
	// it are dropped with an error in the log. 0 is 10000.
	MaxQueue int
}

// On reports whether any endpoint is configured.
func (e Events) On() bool { return len(e.Webhooks) > 0 || e.EventBridge != nil }

// Webhook is an HTTP endpoint that gets each event as a signed POST.
type Webhook struct {
	URL string
	// SecretEnv names the environment variable that holds the key of the
	// body's HMAC-SHA256 signature; the key itself is never in the file.
	SecretEnv string
	Types     []string      // patterns of the event types to send; empty: all
	Timeout   time.Duration // of one request; 0 is 10s
}

// EventBridge is an Amazon EventBridge bus that gets each event through
// PutEvents, in the region of gantry's AWS configuration.
type EventBridge struct {
	Bus    string   // the event bus name or ARN; "" is "default"
	Source string   // the events' Source; "" is "gantry"
	Types  []string // patterns of the event types to send; empty: all
}

// The words of event types: KIND.STATE, e.g. build.succeeded.
var (
	EventKinds  = []string{"build", "deploy"}
	EventStates = []string{"queued", "awaiting_approval", "waiting", "running", "succeeded", "failed", "cancelled", "errored", "retrying"}
)

// MatchEventType reports whether event type typ (build.failed) matches
// pattern: the type itself, KIND.*, *.STATE or *.
func MatchEventType(pattern, typ string) bool {
	if pattern == "*" || pattern == typ {
		return true
	}
	pk, ps, _ := strings.Cut(pattern, ".")
	tk, ts, _ := strings.Cut(typ, ".")
	return (pk == "*" || pk == tk) && (ps == "*" || ps == ts)
}

// MaxEventQueue bounds events.max_queue; MaxEventAge events.max_age.
const (
	MaxEventQueue   = 1_000_000
	MaxEventAge     = 7 * 24 * time.Hour
	MaxEventTimeout = 5 * time.Minute
)

var (
	eventsKeys      = []string{"webhooks", "eventbridge", "max_age", "max_queue"}
	webhookKeys     = []string{"url", "secret_env", "types", "timeout"}
	eventBridgeKeys = []string{"bus", "source", "types"}
)

func (d *decoder) events(n *yaml.Node, e *Events) {
	fs, _ := d.mapping(n, "events", " in events")
	for _, fl := range fs {
		switch fl.key.Value {
		case "webhooks":
			items, _ := d.list(fl.val, "webhooks in events")
			for i, it := range items {
				if w, ok := d.webhook(it, i+1); ok {
					if slices.ContainsFunc(e.Webhooks, func(o Webhook) bool { return o.URL == w.URL }) {
						d.problem(it, "webhooks in events: item %d: %s is listed twice", i+1, clip(w.URL))
						continue
					}
					e.Webhooks = append(e.Webhooks, w)
				}
			}
		case "eventbridge":
			e.EventBridge = d.eventBridge(fl.val)
		case "max_age":
			if v, ok := d.duration(fl.val, "max_age in events", MaxEventAge); ok {
				e.MaxAge = v
			}
		case "max_queue":
			if v, ok := d.integer(fl.val, "max_queue in events", 1, MaxEventQueue); ok {
				e.MaxQueue = v
			}
		default:
			d.unknownKey(fl.key, " in events", eventsKeys)
		}
	}
}

func (d *decoder) webhook(n *yaml.Node, i int) (Webhook, bool) {
	where := fmt.Sprintf(" in webhook %d of events", i)
	fs, ok := d.mapping(n, "webhooks in events: item "+fmt.Sprint(i), where)
	if !ok {
		return Webhook{}, false
	}
	var w Webhook
	good := true
	for _, fl := range fs {
		switch fl.key.Value {
		case "url":
			s, ok := d.str(fl.val, "url"+where)
			if !ok {
				good = false
				continue
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				d.problem(fl.val, "url%s: %q is not an http:// or https:// URL", where, clip(s))
				good = false
				continue
			}
			w.URL = s
		case "secret_env":
			s, ok := d.str(fl.val, "secret_env"+where)
			if ok && !envNameRE.MatchString(s) {
				d.problem(fl.val, "secret_env%s: %q is not the name of an environment variable (the key itself never goes in this file)", where, clip(s))
				ok = false
			}
			good = good && ok
			w.SecretEnv = s
		case "types":
			w.Types = d.eventTypes(fl.val, "types"+where)
		case "timeout":
			if v, ok := d.duration(fl.val, "timeout"+where, MaxEventTimeout); ok {
				w.Timeout = v
			}
		default:
			d.unknownKey(fl.key, where, webhookKeys)
		}
	}
	if w.URL == "" && good {
		d.problem(n, "webhooks in events: item %d has no url", i)
		good = false
	}
	if w.SecretEnv == "" && good {
		d.problem(n, "webhooks in events: item %d has no secret_env: every webhook is signed", i)
		good = false
	}
	return w, good
}

func (d *decoder) eventBridge(n *yaml.Node) *EventBridge {
	fs, ok := d.mapping(n, "eventbridge in events", " in eventbridge")
	if !ok {
		return nil
	}
	eb := &EventBridge{}
	for _, fl := range fs {
		switch fl.key.Value {
		case "bus":
			eb.Bus, _ = d.str(fl.val, "bus in eventbridge")
		case "source":
			if s, ok := d.str(fl.val, "source in eventbridge"); ok {
				if s == "" || len(s) > 256 || strings.HasPrefix(s, "aws.") {
					d.problem(fl.val, "source in eventbridge: %q must be 1 to 256 characters and not start with \"aws.\"", clip(s))
					continue
				}
				eb.Source = s
			}
		case "types":
			eb.Types = d.eventTypes(fl.val, "types in eventbridge")
		default:
			d.unknownKey(fl.key, " in eventbridge", eventBridgeKeys)
		}
	}
	return eb
}

// eventTypes reads a list of event type patterns.
func (d *decoder) eventTypes(n *yaml.Node, subject string) []string {
	items, _ := d.list(n, subject)
	var out []string
	for i, it := range items {
		p, ok := d.str(it, fmt.Sprintf("%s: item %d", subject, i+1))
		if !ok {
			continue
		}
		kind, state, dot := strings.Cut(p, ".")
		if p != "*" && (!dot || (kind != "*" && !slices.Contains(EventKinds, kind)) || (state != "*" && !slices.Contains(EventStates, state))) {
			d.problem(it, "%s: %q is not an event type: write KIND.STATE with KIND one of %s or *, STATE one of %s or * (e.g. deploy.*)",
				subject, clip(p), strings.Join(EventKinds, ", "), strings.Join(EventStates, ", "))
			continue
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}
