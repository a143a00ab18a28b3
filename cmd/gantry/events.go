package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/gantry-ci/gantry/events"
	"github.com/gantry-ci/gantry/events/eventbridge"
	"github.com/gantry-ci/gantry/events/webhook"
	"github.com/gantry-ci/gantry/spec"
)

// eventSecrets are the keys that sign the events webhooks, read from the
// variables the server config names: never shown.
func (m *Main) eventSecrets(cfg *spec.Server) []string {
	var out []string
	for _, w := range cfg.Events.Webhooks {
		if v := m.Getenv(w.SecretEnv); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// eventParts publish job state changes to the server config's events
// endpoints (docs/events.md); nil when none is configured.
type eventParts struct {
	pub *events.Publisher
	snd *events.Sender
}

// setupEvents builds the publisher and the sender of the events endpoints.
// Call it after webServer (events link to job pages) and start it before
// jobs can move.
func (m *Main) setupEvents(ctx context.Context, p *parts) (*eventParts, error) {
	ec := p.cfg.Events
	if !ec.On() {
		return nil, nil
	}
	var eps []events.Endpoint
	var routes []events.Route
	for i, w := range ec.Webhooks {
		secret := m.Getenv(w.SecretEnv)
		if secret == "" {
			return nil, &settingError{w.SecretEnv, fmt.Sprintf("is not set: webhook %d of events (%s) is signed with it", i+1, w.URL)}
		}
		h := webhook.New(webhook.Config{URL: w.URL, Secret: []byte(secret), Timeout: w.Timeout, Agent: "gantry/" + Version})
		eps = append(eps, h)
		routes = append(routes, events.Route{Endpoint: h.Name(), Types: w.Types})
	}
	if eb := ec.EventBridge; eb != nil {
		awsCfg, err := m.loadAWS(ctx)
		if err != nil {
			return nil, &settingError{"AWS", fmt.Sprintf("cannot load the AWS configuration for events.eventbridge: %v", err)}
		}
		if awsCfg.Region == "" {
			return nil, &settingError{"AWS_REGION", "is not set: events.eventbridge needs the region of its bus"}
		}
		bus := eventbridge.New(awseb.NewFromConfig(awsCfg), eventbridge.Config{Bus: eb.Bus, Source: eb.Source})
		eps = append(eps, bus)
		routes = append(routes, events.Route{Endpoint: bus.Name(), Types: eb.Types})
	}
	var timeout time.Duration
	for _, w := range ec.Webhooks {
		timeout = max(timeout, w.Timeout)
	}
	snd := events.NewSender(p.redis, eps, events.SenderConfig{
		Namespace: p.namespace, MaxAge: ec.MaxAge, Logger: m.logger,
		Lease:  max(2*time.Minute, 4*timeout), // it must outlast a request
		Failed: func(ep string) { p.metrics.CallError("events", ep) },
		Dead:   func(string) { p.metrics.CallError("events", "dead_letter") },
	})
	pub := events.NewPublisher(p.store, p.redis, events.PublisherConfig{
		Namespace: p.namespace, Routes: routes, Links: p.jobLink(), MaxQueue: int64(ec.MaxQueue),
		StateTTL: p.cfg.Retention.Jobs, Logger: m.logger, Queued: snd.Wake,
		Dropped: func(string) { p.metrics.CallError("events", "queue_full") },
	})
	m.logger.Info("publishing job events", "webhooks", len(ec.Webhooks), "eventbridge", ec.EventBridge != nil)
	return &eventParts{pub: pub, snd: snd}, nil
}

// start makes sure every event from now on is published, then runs the
// publisher and the sender until ctx ends.
func (e *eventParts) start(ctx context.Context, wg *sync.WaitGroup) error {
	if e == nil {
		return nil
	}
	if err := e.pub.Start(ctx); err != nil {
		return fmt.Errorf("start publishing job events: %w", err)
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = e.pub.Run(ctx) }()
	go func() { defer wg.Done(); e.snd.Run(ctx) }()
	return nil
}
