// Package eventbridge delivers gantry's job events (package events) to an
// Amazon EventBridge bus with PutEvents.
package eventbridge

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/gantry-ci/gantry/events"
)

// API is the EventBridge call the bus makes.
type API interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Config configures a Bus. Zero values are the defaults.
type Config struct {
	Bus    string // the event bus name or ARN; "" is "default"
	Source string // the events' Source; "" is "gantry"
}

// Bus is an EventBridge bus for events.
type Bus struct {
	api API
	cfg Config
}

// New returns the bus of cfg, reached through api.
func New(api API, cfg Config) *Bus {
	if cfg.Bus == "" {
		cfg.Bus = "default"
	}
	if cfg.Source == "" {
		cfg.Source = "gantry"
	}
	return &Bus{api: api, cfg: cfg}
}

// Name is the bus's queue: "eventbridge-" and the bus.
func (b *Bus) Name() string { return "eventbridge-" + b.cfg.Bus }

// Batch is 10, the most entries PutEvents takes.
func (b *Bus) Batch() int { return 10 }

// retryable are the entry error codes worth trying again; any other is the
// entry's own fault.
var retryable = map[string]bool{"InternalFailure": true, "ThrottlingException": true, "InternalException": true}

// Send puts evs in one PutEvents call. Entries that failed (FailedEntryCount)
// get their own errors, so only they are tried again.
func (b *Bus) Send(ctx context.Context, evs []events.Outgoing) []error {
	errs := make([]error, len(evs))
	in := &eventbridge.PutEventsInput{Entries: make([]types.PutEventsRequestEntry, len(evs))}
	for i, ev := range evs {
		in.Entries[i] = types.PutEventsRequestEntry{
			Source: aws.String(b.cfg.Source), DetailType: aws.String(events.DetailType(ev.Type)),
			Detail: aws.String(string(ev.Body)), EventBusName: aws.String(b.cfg.Bus), Time: aws.Time(ev.Time),
		}
	}
	out, err := b.api.PutEvents(ctx, in)
	if err != nil {
		for i := range errs {
			errs[i] = fmt.Errorf("PutEvents to %s: %w", b.cfg.Bus, err)
		}
		return errs
	}
	if out.FailedEntryCount == 0 {
		return errs
	}
	for i := range evs {
		if i >= len(out.Entries) {
			errs[i] = fmt.Errorf("PutEvents to %s: no result for the entry", b.cfg.Bus)
			continue
		}
		e := out.Entries[i]
		code := aws.ToString(e.ErrorCode)
		if code == "" {
			continue
		}
		errs[i] = fmt.Errorf("PutEvents to %s: %s: %s", b.cfg.Bus, code, aws.ToString(e.ErrorMessage))
		if !retryable[code] {
			errs[i] = fmt.Errorf("%w (%w)", errs[i], events.ErrPermanent)
		}
	}
	return errs
}
