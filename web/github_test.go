package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/web"
)

const hookSecret = "It's a Secret to Everybody"

// hookFixture serves the webhook at POST /webhooks/github and records what
// it hands on.
type hookFixture struct {
	url  string
	logs *lockedBuffer

	mu   sync.Mutex
	got  []*scm.WebhookEvent
	fail error // what handle answers
}

func newHookFixture(t *testing.T) *hookFixture {
	t.Helper()
	f := &hookFixture{logs: &lockedBuffer{}}
	store := jobs.NewStore(redistest.Client(t), jobs.StoreConfig{})
	logger := slog.New(slog.NewTextHandler(f.logs, nil))
	handle := func(ctx context.Context, ev *scm.WebhookEvent) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.got = append(f.got, ev)
		return f.fail
	}
	hook := web.GitHubWebhook(web.WebhookConfig{Secret: []byte(hookSecret), Store: store, Handle: handle, Logger: logger})
	s := web.New(web.Deps{Store: store, Webhook: hook, Logger: logger})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/webhooks/github"
	return f
}

// lockedBuffer is a log the server writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (f *hookFixture) handled() []*scm.WebhookEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*scm.WebhookEvent(nil), f.got...)
}

func send(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func pushPayload() map[string]any {
	return githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Branch: "main", After: strings.Repeat("a", 40)})
}

func TestWebhookAcceptsASignedPushOnce(t *testing.T) {
	f := newHookFixture(t)
	code, body := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", pushPayload()))
	if code != http.StatusAccepted {
		t.Fatalf("answer %d %q, want 202", code, body)
	}
	got := f.handled()
	if len(got) != 1 || got[0].Kind != "push" || got[0].Repo != "acme/hello" || got[0].Branch != "main" ||
		got[0].SHA != strings.Repeat("a", 40) || got[0].Delivery != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Fatalf("handled %+v", got)
	}
	// GitHub's redelivery carries the same X-GitHub-Delivery.
	code, body = send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", pushPayload()))
	if code != http.StatusAccepted || !strings.Contains(body, "already handled") {
		t.Errorf("redelivery: %d %q", code, body)
	}
	if n := len(f.handled()); n != 1 {
		t.Errorf("handled %d times, want once", n)
	}
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	f := newHookFixture(t)
	tampered := githubserver.SignedRequest(f.url, hookSecret, "push", "d1", pushPayload())
	body, _ := io.ReadAll(tampered.Body)
	tampered.Body = io.NopCloser(bytes.NewReader(bytes.Replace(body, []byte(`"main"`), []byte(`"prod"`), 1)))
	unsignedNotParsed := githubserver.SignedRequest(f.url, "", "push", "d4", []byte("{not json"))
	for name, req := range map[string]*http.Request{
		"wrong secret": githubserver.SignedRequest(f.url, "guess", "push", "d2", pushPayload()),
		"unsigned":     githubserver.SignedRequest(f.url, "", "push", "d3", pushPayload()),
		"altered body": tampered,
		"garbage":      unsignedNotParsed,
	} {
		if code, _ := send(t, req); code != http.StatusUnauthorized {
			t.Errorf("%s: answer %d, want 401", name, code)
		}
	}
	if got := f.handled(); len(got) != 0 {
		t.Errorf("handled %d events with bad signatures", len(got))
	}
	if n := strings.Count(f.logs.String(), "GitHub webhook refused"); n != 4 {
		t.Errorf("%d log lines about refused webhooks, want 4:\n%s", n, f.logs)
	}
}

func TestWebhookFailureIsForgottenSoRedeliveryWorks(t *testing.T) {
	f := newHookFixture(t)
	f.mu.Lock()
	f.fail = errors.New("GitHub is down")
	f.mu.Unlock()
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-retry", pushPayload())); code != http.StatusInternalServerError {
		t.Fatalf("failed handling answered %d, want 500", code)
	}
	f.mu.Lock()
	f.fail = nil
	f.mu.Unlock()
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-retry", pushPayload())); code != http.StatusAccepted {
		t.Fatalf("redelivery answered %d, want 202", code)
	}
	if n := len(f.handled()); n != 2 {
		t.Errorf("handled %d times, want twice (the failure and the redelivery)", n)
	}
}

func TestWebhookOddRequests(t *testing.T) {
	f := newHookFixture(t)
	big := githubserver.SignedRequest(f.url, hookSecret, "push", "d-big", bytes.Repeat([]byte(" "), web.MaxWebhookBody+1))
	for _, tc := range []struct {
		name string
		req  *http.Request
		code int
	}{
		{"too large", big, http.StatusRequestEntityTooLarge},
		{"no delivery", githubserver.SignedRequest(f.url, hookSecret, "push", "", pushPayload()), http.StatusBadRequest},
		{"odd delivery", githubserver.SignedRequest(f.url, hookSecret, "push", "a:b", pushPayload()), http.StatusBadRequest},
		{"no event", githubserver.SignedRequest(f.url, hookSecret, "", "d-5", pushPayload()), http.StatusBadRequest},
		{"not JSON", githubserver.SignedRequest(f.url, hookSecret, "push", "d-6", []byte("{")), http.StatusBadRequest},
		{"an event gantry ignores", githubserver.SignedRequest(f.url, hookSecret, "issues", "d-7", map[string]any{"action": "opened"}), http.StatusAccepted},
		{"a tag", githubserver.SignedRequest(f.url, hookSecret, "push", "d-8",
			githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Tag: "v1"})), http.StatusAccepted},
	} {
		if code, body := send(t, tc.req); code != tc.code {
			t.Errorf("%s: answer %d %q, want %d", tc.name, code, body, tc.code)
		}
	}
	if got := f.handled(); len(got) != 0 {
		t.Errorf("handled %+v", got)
	}
	ping := githubserver.SignedRequest(f.url, hookSecret, "ping", "d-ping", githubserver.PingPayload("acme/hello", 1))
	if code, _ := send(t, ping); code != http.StatusAccepted {
		t.Errorf("ping answered %d", code)
	}
	if got := f.handled(); len(got) != 1 || got[0].Kind != "ping" {
		t.Errorf("ping: handled %+v", got)
	}
	get, _ := http.NewRequest(http.MethodGet, f.url, nil)
	if code, _ := send(t, get); code != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d, want 405", code)
	}
}

func TestReplayedBodyWithNewDeliveryRunsNothing(t *testing.T) {
	f := newHookFixture(t)
	body := []byte(`{"ref":"refs/heads/main","after":"` + strings.Repeat("b", 40) + `","repository":{"full_name":"acme/hello"}}`)
	if code, text := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "first-delivery", body)); code != http.StatusAccepted {
		t.Fatalf("the push answered %d %q", code, text)
	}
	// Someone who captured the signed request sends it again with a new
	// X-GitHub-Delivery: the signature still matches, the body is the same.
	code, text := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "second-delivery", body))
	if code != http.StatusAccepted || !strings.Contains(text, "already handled") {
		t.Errorf("the replay answered %d %q, want 202 already handled", code, text)
	}
	if got := f.handled(); len(got) != 1 || got[0].Delivery != "first-delivery" {
		t.Errorf("handled %+v, want only the first delivery", got)
	}
	if !strings.Contains(f.logs.String(), "the same body came before as delivery first-delivery") {
		t.Errorf("the log does not say it was a replay:\n%s", f.logs)
	}
	// A different body under the replayed delivery id is a redelivery too.
	other := bytes.Replace(body, []byte(`"b`), []byte(`"c`), 1)
	if code, text := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "first-delivery", other)); code != http.StatusAccepted || !strings.Contains(text, "already handled") {
		t.Errorf("a new body under a used delivery id answered %d %q", code, text)
	}
	if n := len(f.handled()); n != 1 {
		t.Errorf("handled %d webhooks, want 1", n)
	}
}
