package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/events"
	"github.com/gantry-ci/gantry/events/webhook"
	"github.com/gantry-ci/gantry/internal/awsserver"
)

// With events: in gantry.yml, the console publishes a build's state
// changes to the webhook, signed, and to EventBridge.
func TestConsolePublishesEvents(t *testing.T) {
	aws := awsserver.New(t)
	aws.SetEnv()
	var mu sync.Mutex
	var got []events.Event
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify([]byte("hook-key"), body, r.Header.Get(webhook.SignatureHeader)) {
			t.Errorf("bad signature on %s", body)
		}
		var ev events.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("%v: %s", err, body)
		}
		mu.Lock()
		got = append(got, ev)
		mu.Unlock()
	}))
	defer hook.Close()
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	yml := "events:\n  webhooks:\n    - url: " + hook.URL + "/in\n      secret_env: HOOK_KEY\n      types: [build.*]\n" +
		"  eventbridge: {bus: ci, source: gantry}\n"
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg, "HOOK_KEY": "hook-key"})
	s.typeLine("build " + examples("hello"))
	s.waitFor(`✅ #1 succeeded`, 20*time.Second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 3 && len(aws.EventBridgeEntries()) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the webhook got %d events, EventBridge %d; want 3 each", n, len(aws.EventBridgeEntries()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	var states []string
	for _, ev := range got {
		states = append(states, ev.State)
	}
	if strings.Join(states, " ") != "queued running succeeded" || got[2].Repo != examples("hello") || got[2].Requester != "alice" {
		t.Errorf("webhook events %+v", got)
	}
	for _, e := range aws.EventBridgeEntries() {
		if e.Source != "gantry" || e.Bus != "ci" || !strings.HasPrefix(e.DetailType, "gantry build ") {
			t.Errorf("EventBridge entry %+v", e)
		}
	}
}

// A webhook whose secret variable is unset stops start-up, naming it.
func TestEventsSecretMissingStopsStartUp(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "gantry.yml")
	if err := os.WriteFile(cfg, []byte("events:\n  webhooks:\n    - {url: 'https://x.example/in', secret_env: HOOK_KEY}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startConsole(t, map[string]string{"GANTRY_CONFIG": cfg})
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		if code != 1 || !strings.Contains(s.errOut.String(), "HOOK_KEY: is not set: webhook 1 of events (https://x.example/in) is signed with it") {
			t.Errorf("exit %d, stderr:\n%s", code, s.errOut)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the console started without the webhook's secret")
	}
}
