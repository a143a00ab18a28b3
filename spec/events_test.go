package spec

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseServerEvents(t *testing.T) {
	src := `events:
  webhooks:
    - url: https://hooks.example.com/gantry
      secret_env: GANTRY_EVENTS_SECRET
      types: [build.succeeded, build.failed, deploy.*]
    - url: http://127.0.0.1:9000/in
      secret_env: OTHER_SECRET
      timeout: 3s
  eventbridge: { bus: ci, source: acme.gantry, types: ["*.failed"] }
  max_age: 2h
  max_queue: 500
`
	s, err := ParseServer("gantry.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Events{
		Webhooks: []Webhook{
			{URL: "https://hooks.example.com/gantry", SecretEnv: "GANTRY_EVENTS_SECRET", Types: []string{"build.succeeded", "build.failed", "deploy.*"}},
			{URL: "http://127.0.0.1:9000/in", SecretEnv: "OTHER_SECRET", Timeout: 3 * time.Second},
		},
		EventBridge: &EventBridge{Bus: "ci", Source: "acme.gantry", Types: []string{"*.failed"}},
		MaxAge:      2 * time.Hour,
		MaxQueue:    500,
	}
	if diff := cmp.Diff(want, s.Events); diff != "" {
		t.Errorf("Events (-want +got):\n%s", diff)
	}
	if !s.Events.On() {
		t.Error("On() = false with endpoints")
	}
	if DefaultServer().Events.On() {
		t.Error("the default config publishes events")
	}
}

func TestParseServerEventsErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "events: {webhook: []}\n", []string{`gantry.yml:1: unknown key "webhook" in events (did you mean "webhooks"?)`}},
		{"no url", "events:\n  webhooks:\n    - secret_env: S\n", []string{`gantry.yml:3: webhooks in events: item 1 has no url`}},
		{"bad url", "events:\n  webhooks:\n    - url: ftp://x/y\n      secret_env: S\n",
			[]string{`gantry.yml:3: url in webhook 1 of events: "ftp://x/y" is not an http:// or https:// URL`}},
		{"no secret", "events:\n  webhooks:\n    - url: https://x/y\n",
			[]string{`gantry.yml:3: webhooks in events: item 1 has no secret_env: every webhook is signed`}},
		{"secret in the file", "events:\n  webhooks:\n    - url: https://x/y\n      secret_env: 's3cr3t-value!'\n",
			[]string{`gantry.yml:4: secret_env in webhook 1 of events: "s3cr3t-value!" is not the name of an environment variable (the key itself never goes in this file)`}},
		{"bad type", "events:\n  webhooks:\n    - url: https://x/y\n      secret_env: S\n      types:\n        - build.done\n",
			[]string{`gantry.yml:6: types in webhook 1 of events: "build.done" is not an event type: write KIND.STATE with KIND one of build, deploy or *, STATE one of queued, awaiting_approval, waiting, running, succeeded, failed, cancelled, errored, retrying or * (e.g. deploy.*)`}},
		{"twice", "events:\n  webhooks:\n    - {url: 'https://x/y', secret_env: S}\n    - {url: 'https://x/y', secret_env: T}\n",
			[]string{`gantry.yml:4: webhooks in events: item 2: https://x/y is listed twice`}},
		{"aws source", "events:\n  eventbridge: {source: aws.ecs}\n",
			[]string{`gantry.yml:2: source in eventbridge: "aws.ecs" must be 1 to 256 characters and not start with "aws."`}},
		{"unknown eventbridge key", "events:\n  eventbridge: {buss: x}\n",
			[]string{`gantry.yml:2: unknown key "buss" in eventbridge (did you mean "bus"?)`}},
		{"queue", "events: {max_queue: 0}\n", []string{`gantry.yml:1: max_queue in events: must be a whole number from 1 to 1000000, not the number 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseServer("gantry.yml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchEventType(t *testing.T) {
	for _, tt := range []struct {
		pattern, typ string
		want         bool
	}{
		{"*", "build.failed", true},
		{"build.failed", "build.failed", true},
		{"build.failed", "deploy.failed", false},
		{"deploy.*", "deploy.running", true},
		{"deploy.*", "build.running", false},
		{"*.failed", "deploy.failed", true},
		{"*.failed", "deploy.errored", false},
	} {
		if got := MatchEventType(tt.pattern, tt.typ); got != tt.want {
			t.Errorf("MatchEventType(%q, %q) = %v, want %v", tt.pattern, tt.typ, got, tt.want)
		}
	}
}
