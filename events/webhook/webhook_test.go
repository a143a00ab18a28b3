package webhook

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/events"
)

func TestSignVerify(t *testing.T) {
	body := []byte(`{"version":1}`)
	sig := Sign([]byte("k"), body)
	// echo -n '{"version":1}' | openssl dgst -sha256 -hmac k
	if want := "sha256=83928f2fe6e0da629acea3a61bd5ee255434971a6ae976d4efde7e43deba6d4e"; sig != want {
		t.Fatalf("signature %q, want %q", sig, want)
	}
	if !Verify([]byte("k"), body, sig) || Verify([]byte("other"), body, sig) || Verify([]byte("k"), []byte(`{"version":2}`), sig) {
		t.Fatal("Verify")
	}
}

func TestSendOutcomes(t *testing.T) {
	tests := []struct {
		status     int
		retryAfter string
		ok, perm   bool
		after      time.Duration
	}{
		{status: 200, ok: true},
		{status: 204, ok: true},
		{status: 500},
		{status: 503, retryAfter: "7", after: 7 * time.Second},
		{status: 429, retryAfter: "2", after: 2 * time.Second},
		{status: 408},
		{status: 400, perm: true},
		{status: 401, perm: true},
		{status: 410, perm: true},
		{status: 302, perm: true}, // redirects are not followed
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			w := New(Config{URL: srv.URL, Secret: []byte("k")})
			errs := w.Send(context.Background(), []events.Outgoing{{ID: "1-0", Delivery: "1-0.x", Type: "build.queued", Body: []byte(`{}`)}})
			err := errs[0]
			if (err == nil) != tt.ok || errors.Is(err, events.ErrPermanent) != tt.perm {
				t.Fatalf("status %d: err %v", tt.status, err)
			}
			if tt.after != 0 {
				var ra interface{ Unwrap() error }
				if !errors.As(err, &ra) || err.Error() == "" {
					t.Fatalf("no Retry-After in %v", err)
				}
			}
		})
	}
}

// A slow endpoint costs one timeout, and the events after a failed one
// are not sent before it.
func TestSendTimesOut(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.ReadAll(r.Body) // so that the server sees the client go
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	w := New(Config{URL: srv.URL, Secret: []byte("k"), Timeout: 100 * time.Millisecond})
	start := time.Now()
	errs := w.Send(context.Background(), []events.Outgoing{{Body: []byte(`{}`)}, {Body: []byte(`{}`)}})
	if errs[0] == nil || errs[1] == nil || errors.Is(errs[0], events.ErrPermanent) {
		t.Fatalf("errors %v", errs)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v with a 100ms timeout", d)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("%d requests: the second event was sent after the first failed", n)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"0": 0, "30": 30 * time.Second, now.Add(time.Minute).Format(http.TimeFormat): time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
	} {
		if got, ok := retryAfter(v, now); !ok || got != want {
			t.Errorf("retryAfter(%q) = %v, %v, want %v", v, got, ok, want)
		}
	}
	for _, v := range []string{"", "soon", "-3"} {
		if _, ok := retryAfter(v, now); ok {
			t.Errorf("retryAfter(%q) ok", v)
		}
	}
}
