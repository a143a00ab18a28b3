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
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gantry-ci/gantry/internal/githubserver"
	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/web"
)

const hookSecret = "It's a Secret to Everybody"

// hookFixture serves the webhook at POST /webhooks/github and records what
// its inbox's consumer hands on.
type hookFixture struct {
	url   string
	logs  *lockedBuffer
	redis *redis.Client
	store *jobs.Store
	inbox *web.Inbox

	mu   sync.Mutex
	got  []*scm.WebhookEvent
	fail []error // what handle answers, in turn; nil once they are used up
}

// newHookFixture serves the webhook; consume starts its inbox's consumer.
func newHookFixture(t *testing.T, consume bool) *hookFixture {
	t.Helper()
	f := &hookFixture{logs: &lockedBuffer{}}
	f.redis = redistest.Client(t)
	f.store = jobs.NewStore(rdb.New(f.redis), jobs.StoreConfig{})
	logger := slog.New(slog.NewTextHandler(f.logs, nil))
	f.inbox = f.newInbox("test", logger)
	hook := web.GitHubWebhook(web.WebhookConfig{Secret: []byte(hookSecret), Inbox: f.inbox, Logger: logger})
	s := web.New(web.Deps{Store: f.store, Webhook: hook, Logger: logger})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f.url = srv.URL + "/webhooks/github"
	if consume {
		runInbox(t, f.inbox)
	}
	return f
}

// newInbox is an inbox of the fixture's store whose consumer records what
// it is handed.
func (f *hookFixture) newInbox(consumer string, logger *slog.Logger) *web.Inbox {
	return web.NewInbox(rdb.New(f.redis), web.InboxConfig{
		Consumer: consumer, RetryBase: 10 * time.Millisecond, MaxAttempts: 4, ClaimIdle: 300 * time.Millisecond, Logger: logger,
		Handle: func(ctx context.Context, ev *scm.WebhookEvent) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.got = append(f.got, ev)
			if len(f.fail) == 0 {
				return nil
			}
			err := f.fail[0]
			f.fail = f.fail[1:]
			return err
		},
	})
}

// runInbox runs in's consumer until the test ends.
func runInbox(t *testing.T, in *web.Inbox) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = in.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return func() { cancel(); <-done }
}

// waitHandled waits until the consumer has been handed n webhooks, and a
// moment more to see that no more come.
func (f *hookFixture) waitHandled(t *testing.T, n int) []*scm.WebhookEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(f.handled()) < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	got := f.handled()
	if len(got) != n {
		t.Fatalf("handled %d webhooks, want %d:\n%s", len(got), n, f.logs)
	}
	return got
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
	f := newHookFixture(t, true)
	code, body := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", pushPayload()))
	if code != http.StatusAccepted {
		t.Fatalf("answer %d %q, want 202", code, body)
	}
	got := f.waitHandled(t, 1)
	if len(got) != 1 || got[0].Kind != "push" || got[0].Repo != "acme/hello" || got[0].Branch != "main" ||
		got[0].SHA != strings.Repeat("a", 40) || got[0].Delivery != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Fatalf("handled %+v", got)
	}
	// GitHub's redelivery carries the same X-GitHub-Delivery.
	code, body = send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", pushPayload()))
	if code != http.StatusAccepted || !strings.Contains(body, "already handled") {
		t.Errorf("redelivery: %d %q", code, body)
	}
	f.waitHandled(t, 1)
}

func TestWebhookRefusesBadSignatures(t *testing.T) {
	f := newHookFixture(t, true)
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

func TestWebhookThatFailsIsRetriedThenDeadLettered(t *testing.T) {
	f := newHookFixture(t, true)
	down := errors.New("GitHub is down")
	f.mu.Lock()
	f.fail = []error{down, down}
	f.mu.Unlock()
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-retry", pushPayload())); code != http.StatusAccepted {
		t.Fatalf("answered %d, want 202 before anything is done", code)
	}
	f.waitHandled(t, 3) // two failures, then it went through
	if !strings.Contains(f.logs.String(), "GitHub webhook failed; will try again") {
		t.Errorf("log:\n%s", f.logs)
	}

	// One that keeps failing is given up after MaxAttempts, and its
	// delivery is forgotten so that GitHub's redelivery is acted on.
	f.mu.Lock()
	f.fail = []error{down, down, down, down}
	f.mu.Unlock()
	failing := githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Branch: "main", After: strings.Repeat("c", 40)})
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-dead", failing)); code != http.StatusAccepted {
		t.Fatalf("answered %d, want 202", code)
	}
	f.waitHandled(t, 7)
	dead, err := f.inbox.DeadLetters(context.Background(), 10)
	if err != nil || len(dead) != 1 || dead[0].Delivery != "d-dead" || dead[0].Attempts != 4 || !strings.Contains(dead[0].Error, "GitHub is down") {
		t.Fatalf("dead letters %+v (%v)", dead, err)
	}
	if !strings.Contains(f.logs.String(), "GitHub webhook given up and dead-lettered") {
		t.Errorf("log:\n%s", f.logs)
	}
	if code, body := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-dead", failing)); code != http.StatusAccepted || strings.Contains(body, "already") {
		t.Errorf("the redelivery of a dead-lettered webhook answered %d %q", code, body)
	}
	f.waitHandled(t, 8)
	if n, err := f.inbox.Backlog(context.Background()); n != 0 || err != nil {
		t.Errorf("backlog %d (%v) once every webhook was acted on", n, err)
	}
}

func TestWebhookAcceptedBeforeACrashIsActedOnByTheNextConsumer(t *testing.T) {
	f := newHookFixture(t, false) // gantry answered 2xx, then died before acting on it
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-crash", pushPayload())); code != http.StatusAccepted {
		t.Fatalf("answered %d, want 202", code)
	}
	if n, err := f.inbox.Backlog(context.Background()); n != 1 || err != nil {
		t.Fatalf("backlog %d (%v), want the webhook kept", n, err)
	}
	// The next gantry's consumer, on the same Redis.
	runInbox(t, f.newInbox("next", slog.New(slog.NewTextHandler(f.logs, nil))))
	if got := f.waitHandled(t, 1); got[0].Delivery != "d-crash" {
		t.Errorf("handled %+v", got[0])
	}
}

func TestWebhookOfAConsumerThatDiedIsTakenOver(t *testing.T) {
	f := newHookFixture(t, false)
	ctx := context.Background()
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-taken", pushPayload())); code != http.StatusAccepted {
		t.Fatalf("answered %d, want 202", code)
	}
	// A consumer reads it and dies before it acknowledges it.
	raw := f.redis
	stream := rdb.NewKeys("").Prefix() + "github:webhooks"
	if err := raw.XGroupCreateMkStream(ctx, stream, "webhooks", "0").Err(); err != nil {
		t.Fatal(err)
	}
	read, err := raw.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "webhooks", Consumer: "died", Streams: []string{stream, ">"}, Count: 1}).Result()
	if err != nil || len(read) != 1 || len(read[0].Messages) != 1 {
		t.Fatalf("the dying consumer read %v (%v)", read, err)
	}
	died := time.Now()
	runInbox(t, f.newInbox("survivor", slog.New(slog.NewTextHandler(f.logs, nil))))
	if got := f.waitHandled(t, 1); got[0].Delivery != "d-taken" {
		t.Errorf("handled %+v", got[0])
	}
	if took := time.Since(died); took < 300*time.Millisecond {
		t.Errorf("taken over after %v, before it was idle for the claim time", took)
	}
	pending, err := raw.XPending(ctx, stream, "webhooks").Result()
	if err != nil || pending.Count != 0 {
		t.Errorf("pending after the takeover: %+v (%v)", pending, err)
	}
}

func TestWebhookUnderWayWhenGantryStopsIsLeftForTheNext(t *testing.T) {
	f := newHookFixture(t, false)
	down := errors.New("GitHub is down")
	f.mu.Lock()
	f.fail = []error{down}
	f.mu.Unlock()
	slow := web.NewInbox(rdb.New(f.redis), web.InboxConfig{
		Consumer: "stopping", RetryBase: time.Hour, ClaimIdle: time.Hour, Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
		Handle: func(ctx context.Context, ev *scm.WebhookEvent) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.got = append(f.got, ev)
			return down
		},
	})
	stop := runInbox(t, slow)
	if code, _ := send(t, githubserver.SignedRequest(f.url, hookSecret, "push", "d-stop", pushPayload())); code != http.StatusAccepted {
		t.Fatalf("answered %d, want 202", code)
	}
	f.waitHandled(t, 1) // failed once; waits an hour to try again
	stop()
	if !strings.Contains(f.logs.String(), "GitHub webhook left in the inbox: gantry is stopping") {
		t.Errorf("log:\n%s", f.logs)
	}
	// Handed back idle: the next consumer takes it at once, though the
	// stopped one's claim time was an hour.
	runInbox(t, web.NewInbox(rdb.New(f.redis), web.InboxConfig{Consumer: "next", ClaimIdle: time.Hour, Handle: func(ctx context.Context, ev *scm.WebhookEvent) error {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.got = append(f.got, ev)
		return nil
	}}))
	f.waitHandled(t, 2)
}

func TestWebhookOddRequests(t *testing.T) {
	f := newHookFixture(t, true)
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
		{"a ref neither a branch nor a tag", githubserver.SignedRequest(f.url, hookSecret, "push", "d-8",
			githubserver.PushPayload(githubserver.Push{Repo: "acme/hello", Ref: "refs/notes/commits", After: strings.Repeat("a", 40)})), http.StatusAccepted},
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
	if got := f.waitHandled(t, 1); got[0].Kind != "ping" {
		t.Errorf("ping: handled %+v", got)
	}
	get, _ := http.NewRequest(http.MethodGet, f.url, nil)
	if code, _ := send(t, get); code != http.StatusMethodNotAllowed {
		t.Errorf("GET answered %d, want 405", code)
	}
}

func TestReplayedBodyWithNewDeliveryRunsNothing(t *testing.T) {
	f := newHookFixture(t, true)
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
	if got := f.waitHandled(t, 1); got[0].Delivery != "first-delivery" {
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
	f.waitHandled(t, 1)
}
