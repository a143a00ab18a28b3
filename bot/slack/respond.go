package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	goslack "github.com/slack-go/slack"
)

// responder posts answers to response_url addresses.
type responder struct {
	http *http.Client
}

func newResponder() *responder {
	return &responder{http: &http.Client{Timeout: 15 * time.Second}}
}

// responseError is a Slack error code a response_url answered with.
type responseError struct{ code string }

func (e *responseError) Error() string { return "response_url answered " + e.code }

func (r *responder) post(ctx context.Context, url, text string, inChannel bool) error {
	kind := "ephemeral"
	if inChannel {
		kind = "in_channel"
	}
	body, err := json.Marshal(map[string]any{"text": text, "response_type": kind, "replace_original": false})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("response_url: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &goslack.RateLimitedError{RetryAfter: time.Duration(secs) * time.Second}
	case resp.StatusCode != http.StatusOK:
		return goslack.StatusCodeError{Code: resp.StatusCode, Status: resp.Status}
	}
	var ok struct {
		OK    *bool  `json:"ok"`
		Error string `json:"error"`
	}
	// Slack answers {"ok":true} or a plain "ok"; only an explicit failure is one.
	if json.Unmarshal(answer, &ok) == nil && ok.OK != nil && !*ok.OK {
		return &responseError{code: ok.Error}
	}
	return nil
}
