// Package webhook delivers gantry's job events (package events) as signed
// HTTP POSTs.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/events"
)

// The headers of a delivery.
const (
	SignatureHeader = "X-Gantry-Signature" // "sha256=" and the hex HMAC-SHA256 of the body under the secret
	EventHeader     = "X-Gantry-Event"     // the event's type, e.g. build.succeeded
	DeliveryHeader  = "X-Gantry-Delivery"  // the delivery's id: the same on every retry
)

// Config configures a Webhook. Zero values are the defaults.
type Config struct {
	Name    string // the endpoint's queue; "" is derived from URL (see Name)
	URL     string
	Secret  []byte        // the key of the signature; required
	Timeout time.Duration // of one request; 0 is 10 s
	Client  *http.Client  // nil: a client of its own that follows no redirects
	Agent   string        // the User-Agent; "" is "gantry"
}

// Webhook is an HTTP endpoint for events.
type Webhook struct {
	cfg Config
}

// New returns the webhook cfg describes.
func New(cfg Config) *Webhook {
	if cfg.Name == "" {
		cfg.Name = Name(cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Agent == "" {
		cfg.Agent = "gantry"
	}
	return &Webhook{cfg: cfg}
}

// Name is the queue name of the webhook to url: the same for the same URL,
// so that its queue outlives a restart.
func Name(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "webhook-" + hex.EncodeToString(sum[:6])
}

// Sign is the value of the signature header for body under secret.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether signature is body's under secret, in constant
// time: what a receiver does.
func Verify(secret, body []byte, signature string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(signature))
}

func (w *Webhook) Name() string { return w.cfg.Name }

// Batch is 1: a webhook gets one event per request.
func (w *Webhook) Batch() int { return 1 }

// Send posts each event in turn; after the first that fails the rest are
// not tried (they are tried again after it, in order).
func (w *Webhook) Send(ctx context.Context, evs []events.Outgoing) []error {
	errs := make([]error, len(evs))
	for i, ev := range evs {
		if errs[i] = w.post(ctx, ev); errs[i] != nil {
			for j := i + 1; j < len(evs); j++ {
				errs[j] = fmt.Errorf("not tried: an event before it failed")
			}
			break
		}
	}
	return errs
}

func (w *Webhook) post(ctx context.Context, ev events.Outgoing) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(ev.Body))
	if err != nil {
		return fmt.Errorf("%w: %v", events.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", w.cfg.Agent)
	req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, ev.Body))
	req.Header.Set(EventHeader, ev.Type)
	req.Header.Set(DeliveryHeader, ev.Delivery)
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return fmt.Errorf("POST event: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusTooManyRequests || code == http.StatusRequestTimeout || code >= 500:
		err := fmt.Errorf("POST event: %s", resp.Status)
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return events.RetryAfter(err, d)
		}
		return err
	default:
		return fmt.Errorf("POST event: %s: %w", resp.Status, events.ErrPermanent)
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
