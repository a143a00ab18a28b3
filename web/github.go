package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

const (
	// MaxWebhookBody is the largest webhook body accepted: GitHub caps its
	// payloads at 25 MB.
	MaxWebhookBody = 25 << 20
	// webhookDedupe is how long a delivery id and a body's hash are
	// remembered, so that a redelivered webhook, or a captured body sent
	// again under a new delivery id, is acted on once.
	webhookDedupe = 72 * time.Hour
	// webhookTimeout bounds the handling of one webhook, which goes on
	// when GitHub stops waiting for the answer.
	webhookTimeout = time.Minute
)

// GitHubWebhook is the handler of GitHub's webhooks. It checks the
// X-Hub-Signature-256 of the body against secret before it reads anything
// else (401 otherwise), parses the event, acts on each X-GitHub-Delivery
// and each body once (both remembered in Redis for 72 hours, so a captured
// body sent again under a new delivery id does nothing) and answers 202
// Accepted. When handle
// fails, the delivery is forgotten and the answer is 500, so that GitHub's
// redelivery is acted on.
func GitHubWebhook(secret []byte, store *jobs.Store, handle func(context.Context, *scm.WebhookEvent) error, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return &githubWebhook{secret: secret, store: store, handle: handle, log: logger}
}

type githubWebhook struct {
	secret []byte
	store  *jobs.Store
	handle func(context.Context, *scm.WebhookEvent) error
	log    *slog.Logger
}

func (h *githubWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	log := h.log.With("remote", r.RemoteAddr, "event", event, "delivery", delivery)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("GitHub webhook refused: body too large", "limit", MaxWebhookBody)
			http.Error(w, fmt.Sprintf("body over %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
			return
		}
		log.Warn("GitHub webhook: cannot read the body", "err", err)
		http.Error(w, "cannot read the body", http.StatusBadRequest)
		return
	}
	if err := scm.VerifySignature(h.secret, body, r.Header.Get("X-Hub-Signature-256")); err != nil {
		log.Warn("GitHub webhook refused", "err", err)
		http.Error(w, "signature check failed", http.StatusUnauthorized)
		return
	}
	if !validDelivery(delivery) {
		log.Warn("GitHub webhook refused: no usable X-GitHub-Delivery")
		http.Error(w, "X-GitHub-Delivery is missing or not a delivery id", http.StatusBadRequest)
		return
	}
	ev, err := scm.ParseWebhook(event, delivery, body)
	if err != nil {
		log.Warn("GitHub webhook refused: cannot parse it", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if ev.Kind == "" {
		log.Debug("GitHub webhook ignored", "repo", ev.Repo)
		accepted(w, "ignored: gantry acts on push and pull_request")
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), webhookTimeout)
	defer cancel()
	seen := newSeenKeys(h.store.Keys(), delivery, body)
	dup, err := seen.claim(ctx, h.store.Redis())
	if err != nil {
		log.Error("GitHub webhook: cannot record the delivery", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if dup != "" {
		log.Info("GitHub webhook already handled: "+dup+" ignored", "repo", ev.Repo)
		accepted(w, "already handled")
		return
	}
	if err := h.handle(ctx, ev); err != nil {
		if ferr := seen.forget(ctx, h.store.Redis()); ferr != nil {
			log.Error("GitHub webhook: cannot forget the delivery; its redelivery will be ignored", "err", ferr)
		}
		log.Error("GitHub webhook failed; GitHub may deliver it again", "repo", ev.Repo, "err", err)
		http.Error(w, "could not handle the webhook; deliver it again", http.StatusInternalServerError)
		return
	}
	accepted(w, "accepted")
}

func accepted(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintln(w, msg)
}

// validDelivery accepts what GitHub sends as a delivery id (a GUID) and
// keeps anything else out of the Redis key it becomes part of.
func validDelivery(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
