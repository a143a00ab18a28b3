package slackserver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

const waitLong = 10 * time.Second

// newAPI returns a slack-go Web API client of srv with both tokens.
func newAPI(srv *Server) *slack.Client {
	return slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(AppToken))
}

// newPatientAPI is newAPI for tests that make more calls than Slack's limits
// let through at once: it waits out each 429's Retry-After and tries again,
// as a well-behaved client does.
func newPatientAPI(srv *Server) *slack.Client {
	cfg := slack.DefaultRetryConfig()
	cfg.MaxRetries, cfg.RetryAfterJitter = 10, 0
	return slack.New(BotToken, slack.OptionAPIURL(srv.APIURL()), slack.OptionAppLevelToken(AppToken), slack.OptionRetryConfig(cfg))
}

// socketClient runs a slack-go socketmode client against srv until the test
// ends, and hands its events to the test.
type socketClient struct {
	t      *testing.T
	sm     *socketmode.Client
	cancel context.CancelFunc
	done   chan error // receives RunContext's result once
}

func startSocketMode(t *testing.T, srv *Server, opts ...socketmode.Option) *socketClient {
	t.Helper()
	sm := socketmode.New(newAPI(srv), opts...)
	ctx, cancel := context.WithCancel(context.Background())
	c := &socketClient{t: t, sm: sm, cancel: cancel, done: make(chan error, 1)}
	go func() { c.done <- sm.RunContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-c.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("socketmode RunContext returned %v", err)
			}
		case <-time.After(waitLong):
			t.Errorf("socketmode RunContext did not return after its context was cancelled")
		}
	})
	return c
}

// next returns the next event of type want, skipping the client's other
// events (connecting, connected, hello, ...).
func (c *socketClient) next(want socketmode.EventType) socketmode.Event {
	c.t.Helper()
	timeout := time.After(waitLong)
	for {
		select {
		case ev := <-c.sm.Events:
			if ev.Type == want {
				return ev
			}
			if ev.Type == socketmode.EventTypeErrorBadMessage {
				c.t.Fatalf("client could not parse a frame: %+v", ev.Data)
			}
		case <-timeout:
			c.t.Fatalf("no %s event within %v", want, waitLong)
		}
	}
}

// ack acknowledges the event's request with an empty payload.
func (c *socketClient) ack(ev socketmode.Event) {
	c.t.Helper()
	if ev.Request == nil {
		c.t.Fatalf("%s event has no request to ack", ev.Type)
	}
	if err := c.sm.Ack(*ev.Request); err != nil {
		c.t.Fatalf("ack %s: %v", ev.Request.EnvelopeID, err)
	}
}

// drain consumes events in the background until the test ends, for tests
// that only look at the server's side.
func (c *socketClient) drain() {
	ctx, cancel := context.WithCancel(context.Background())
	c.t.Cleanup(cancel)
	go func() {
		for {
			select {
			case <-c.sm.Events:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// fakeTB records a failure instead of stopping the test, to check that the
// wait helpers fail.
type fakeTB struct {
	testing.TB
	failed bool
	msg    string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = true
	f.msg = fmt.Sprintf(format, args...)
}
