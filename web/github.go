package web

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

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
	// webhookTimeout bounds one attempt at acting on a webhook.
	webhookTimeout = time.Minute
)

// WebhookConfig configures the handler of GitHub's webhooks. Zero values
// are the defaults.
type WebhookConfig struct {
	Secret []byte // the webhook secret; required
	// Inbox is where accepted webhooks wait to be acted on; required.
	Inbox *Inbox
	// MaxBodies is how many webhook bodies are read at once; beyond it a
	// request is answered 503 with Retry-After before its body is read.
	// 0 is 8.
	MaxBodies int
	// SpoolDir is where bodies larger than 1 MiB wait for their signature
	// check; "" is the system's temporary directory.
	SpoolDir string
	Logger   *slog.Logger // nil: slog.Default()
}

// GitHubWebhook is the handler of GitHub's webhooks. Before it reads the
// body it refuses a request without a well-formed X-Hub-Signature-256
// (401), with a body over GitHub's 25 MiB (413), or beyond MaxBodies read at
// once (503). It checks the signature while it reads the body, holding at
// most 1 MiB of it in memory until the signature matches. Then it parses
// the event, puts it in the Inbox unless its X-GitHub-Delivery or its body
// was seen before (both remembered in Redis for 72 hours, so a redelivery,
// or a captured body sent again under a new delivery id, does nothing),
// and answers 202 Accepted before anything is done about it: the Inbox's
// consumers act on it, with retries, in this process or another.
func GitHubWebhook(cfg WebhookConfig) http.Handler {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxBodies <= 0 {
		cfg.MaxBodies = 8
	}
	return &githubWebhook{cfg: cfg, log: cfg.Logger, slots: make(chan struct{}, cfg.MaxBodies)}
}

type githubWebhook struct {
	cfg   WebhookConfig
	log   *slog.Logger
	slots chan struct{} // one per body being read
}

// busyRetry is the Retry-After of a 503 for too many bodies at once.
const busyRetry = "5"

func (h *githubWebhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	log := h.log.With("remote", r.RemoteAddr, "event", event, "delivery", delivery)
	verifier, ok := h.precheck(w, r, log)
	if !ok {
		return
	}
	select {
	case h.slots <- struct{}{}:
		defer func() { <-h.slots }()
	default:
		log.Warn("GitHub webhook refused: too many bodies being read at once", "limit", cap(h.slots))
		w.Header().Set("Retry-After", busyRetry)
		refuse(w, "too many webhooks at once; try again shortly", http.StatusServiceUnavailable)
		return
	}
	body, sum, ok := h.readSigned(w, r, verifier, log)
	if !ok {
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
	h.accept(w, r, ev, delivery, sum, log)
}

// precheck refuses, before any of the body is read, what cannot be a
// webhook from GitHub: no signature or a malformed one, or a body larger
// than GitHub sends.
func (h *githubWebhook) precheck(w http.ResponseWriter, r *http.Request, log *slog.Logger) (*scm.BodyVerifier, bool) {
	v, err := scm.NewBodyVerifier(h.cfg.Secret, r.Header.Get("X-Hub-Signature-256"))
	if err != nil {
		log.Warn("GitHub webhook refused", "err", err)
		refuse(w, "signature check failed", http.StatusUnauthorized)
		return nil, false
	}
	if r.ContentLength > MaxWebhookBody {
		log.Warn("GitHub webhook refused: body too large", "limit", MaxWebhookBody, "length", r.ContentLength)
		refuse(w, fmt.Sprintf("body over %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return v, true
}

// readSigned reads the body through v and returns it, with its SHA-256,
// only when the signature matches; otherwise it answers the request.
func (h *githubWebhook) readSigned(w http.ResponseWriter, r *http.Request, v *scm.BodyVerifier, log *slog.Logger) ([]byte, []byte, bool) {
	sp := &spool{dir: h.cfg.SpoolDir}
	defer func() {
		if err := sp.Close(); err != nil {
			log.Warn("GitHub webhook: cannot remove the spooled body", "err", err)
		}
	}()
	sum := sha256.New()
	_, err := io.Copy(io.MultiWriter(sp, v, sum), http.MaxBytesReader(w, r.Body, MaxWebhookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			log.Warn("GitHub webhook refused: body too large", "limit", MaxWebhookBody)
			refuse(w, fmt.Sprintf("body over %d bytes", MaxWebhookBody), http.StatusRequestEntityTooLarge)
			return nil, nil, false
		}
		log.Warn("GitHub webhook: cannot read the body", "err", err, "read", sp.size)
		refuse(w, "cannot read the body", http.StatusBadRequest)
		return nil, nil, false
	}
	if sp.fileErr != nil {
		log.Warn("GitHub webhook: cannot spool the body to disk; held it in memory", "err", sp.fileErr)
	}
	if err := v.Verify(); err != nil {
		log.Warn("GitHub webhook refused", "err", err, "size", sp.size)
		refuse(w, "signature check failed", http.StatusUnauthorized)
		return nil, nil, false
	}
	body, err := sp.Bytes()
	if err != nil {
		log.Error("GitHub webhook: cannot read back the spooled body", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return nil, nil, false
	}
	return body, sum.Sum(nil), true
}

// accept puts a new webhook in the inbox and answers 202; a duplicate is
// answered 202 too, and left alone.
func (h *githubWebhook) accept(w http.ResponseWriter, r *http.Request, ev *scm.WebhookEvent, delivery string, bodySum []byte, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	dup, err := h.cfg.Inbox.accept(ctx, ev, delivery, bodySum)
	if err != nil {
		log.Error("GitHub webhook: cannot queue it; GitHub may deliver it again", "repo", ev.Repo, "err", err)
		w.Header().Set("Retry-After", busyRetry)
		http.Error(w, "could not queue the webhook; deliver it again", http.StatusServiceUnavailable)
		return
	}
	if dup != "" {
		log.Info("GitHub webhook already handled: "+dup+" ignored", "repo", ev.Repo)
		accepted(w, "already handled")
		return
	}
	log.Info("GitHub webhook accepted", "repo", ev.Repo, "kind", ev.Kind)
	accepted(w, "accepted")
}

// refuse answers an error and closes the connection: the rest of a body
// the server did not want is not worth reading.
func refuse(w http.ResponseWriter, msg string, code int) {
	w.Header().Set("Connection", "close")
	http.Error(w, msg, code)
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
