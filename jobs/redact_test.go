package jobs_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gantry-ci/gantry/jobs"
)

// oddSecret has bytes whose base64 differs between the standard and the
// URL-safe alphabets and that percent-encoding escapes.
const oddSecret = "s3cr3t/val+ue?&~>>~=x"

func TestRedactorHidesBase64AtEveryAlignment(t *testing.T) {
	r := jobs.NewRedactor(oddSecret)
	encodings := map[string]*base64.Encoding{
		"std": base64.StdEncoding, "std-raw": base64.RawStdEncoding,
		"url": base64.URLEncoding, "url-raw": base64.RawURLEncoding,
	}
	for name, enc := range encodings {
		for lead := range 3 {
			for trail := range 3 {
				src := strings.Repeat("L", lead) + oddSecret + strings.Repeat("T", trail)
				e := enc.EncodeToString([]byte(src))
				in := "dump: " + e + " end"
				out := r.String(in)
				// What may stay of e: the characters that carry bits of the
				// bytes around the secret (one of them also 2 to 4 bits of
				// it), and padding.
				before, after, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(out, "dump: "), " end"), jobs.Redacted)
				if !ok || len(before) > (8*lead+5)/6 || len(strings.TrimRight(after, "=")) > (8*trail+5)/6+1 {
					t.Errorf("%s, %d lead and %d trailing bytes: %q became %q", name, lead, trail, in, out)
				}
			}
		}
	}
}

func TestRedactorHidesPercentEncodedAndHexForms(t *testing.T) {
	r := jobs.NewRedactor(oddSecret)
	forms := map[string]string{
		"plain":        oddSecret,
		"query":        url.QueryEscape(oddSecret),
		"path":         url.PathEscape(oddSecret),
		"query-lower":  strings.ToLower(url.QueryEscape(oddSecret)),
		"hex":          hex.EncodeToString([]byte(oddSecret)),
		"hex-upper":    strings.ToUpper(hex.EncodeToString([]byte(oddSecret))),
		"in-a-url":     "https://user:" + url.QueryEscape(oddSecret) + "@example.com/x",
		"in-a-query":   "GET /cb?token=" + url.QueryEscape(oddSecret) + "&x=1",
		"environ-line": "GANTRY_SECRET_X=" + oddSecret + "\x00PATH=/bin",
	}
	for name, form := range forms {
		out := r.String("say " + form + " done")
		if !strings.Contains(out, jobs.Redacted) || strings.Contains(out, oddSecret) {
			t.Errorf("%s: %q became %q", name, form, out)
		}
		for _, enc := range []string{url.QueryEscape(oddSecret), hex.EncodeToString([]byte(oddSecret))[:12]} {
			if strings.Contains(out, enc) {
				t.Errorf("%s: %q still shows %q", name, out, enc)
			}
		}
	}
}

func TestRedactorHidesBase64WrappedOverLines(t *testing.T) {
	r := jobs.NewRedactor(oddSecret)
	env := "HOME=/root\x00SLACK_TOKEN=" + oddSecret + "\x00PATH=/usr/bin:/bin\x00"
	for _, width := range []int{76, 64, 4} {
		e := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("x", 50) + env))
		var wrapped strings.Builder
		for len(e) > width {
			wrapped.WriteString(e[:width] + "\n")
			e = e[width:]
		}
		wrapped.WriteString(e + "\n")
		out := r.String(wrapped.String())
		if !strings.Contains(out, jobs.Redacted) {
			t.Errorf("width %d: nothing hidden in\n%s", width, out)
		}
		if got, want := strings.Count(out, "\n"), strings.Count(wrapped.String(), "\n"); got != want {
			t.Errorf("width %d: %d lines, want the %d there were", width, got, want)
		}
		joined := strings.ReplaceAll(out, "\n", "")
		if dec := decodeAll(joined); strings.Contains(dec, oddSecret[:8]) {
			t.Errorf("width %d: the secret can still be decoded from %q", width, out)
		}
	}
}

// decodeAll decodes each base64 run in s as well as it can.
func decodeAll(s string) string {
	var out strings.Builder
	for _, part := range strings.Split(s, jobs.Redacted) {
		for off := range 4 {
			if off < len(part) {
				p := part[off:]
				b, _ := base64.StdEncoding.DecodeString(p[:len(p)/4*4])
				out.Write(b)
			}
		}
	}
	return out.String()
}

func TestRedactorStillHidesTokenShapes(t *testing.T) {
	r := jobs.NewRedactor()
	in := "slack xoxb-1234567890-abcdefghij aws AKIAABCDEFGHIJKLMNOP ok"
	if got, want := r.String(in), "slack [redacted] aws [redacted] ok"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRedactorIgnoresValuesShorterThanSix(t *testing.T) {
	r := jobs.NewRedactor("true", "12345")
	if got := r.String("true 12345"); got != "true 12345" {
		t.Errorf("got %q", got)
	}
}

func TestRedactorAddTakesEffectAtRuntime(t *testing.T) {
	r := jobs.NewRedactor("first-secret")
	learned := "link-secret-from-redis"
	if got := r.String(learned); got != learned {
		t.Fatalf("hidden before it was added: %q", got)
	}
	before := r.Overlap()
	r.Add(learned, "short")
	if got := r.String("a " + learned + " b first-secret"); got != "a [redacted] b [redacted]" {
		t.Errorf("got %q", got)
	}
	if got := r.String(base64.StdEncoding.EncodeToString([]byte(learned))); !strings.Contains(got, jobs.Redacted) {
		t.Errorf("base64 of an added value not hidden: %q", got)
	}
	if r.Overlap() < before {
		t.Errorf("Overlap went down from %d to %d", before, r.Overlap())
	}
}

func TestRedactorOverlapCoversTheLongestForm(t *testing.T) {
	long := strings.Repeat("0123456789", 30)
	r := jobs.NewRedactor(long)
	// The hex of a 300-byte value is 600 bytes, percent-encoding no longer.
	if got := r.Overlap(); got < 2*len(long)-1 {
		t.Errorf("Overlap = %d, want at least %d", got, 2*len(long)-1)
	}
	if got := jobs.NewRedactor().Overlap(); got < 200 {
		t.Errorf("Overlap without values = %d: too short for token shapes", got)
	}
}

func TestNilRedactorHidesNothing(t *testing.T) {
	var r *jobs.Redactor
	r.Add("some-secret")
	if got := r.String("some-secret"); got != "some-secret" {
		t.Errorf("got %q", got)
	}
	if got := string(r.Bytes([]byte("x"))); got != "x" {
		t.Errorf("got %q", got)
	}
	if r.Overlap() != 0 {
		t.Errorf("Overlap = %d", r.Overlap())
	}
	if out, n := r.Prefix([]byte("abc")); string(out) != "abc" || n != 3 {
		t.Errorf("Prefix = %q, %d", out, n)
	}
}

func TestRedactorPrefixLeavesAPossibleSecretForLater(t *testing.T) {
	secret := "prefix-test-secret-value"
	r := jobs.NewRedactor(secret)
	text := strings.Repeat("a", 1000) + secret[:10] // the rest comes later
	out, n := r.Prefix([]byte(text))
	if n > len(text)-10 {
		t.Fatalf("Prefix took %d of %d bytes: the start of the secret went with it", n, len(text))
	}
	if string(out) != text[:n] {
		t.Errorf("Prefix changed text without a secret")
	}
	// A whole secret that straddles the cut goes whole, redacted.
	text = strings.Repeat("a", 1000) + secret + strings.Repeat("b", 20)
	out, n = r.Prefix([]byte(text))
	if strings.Contains(string(out), secret[:6]) || strings.Contains(text[n:], secret[len(secret)-6:]) && !strings.Contains(text[n:], secret) {
		t.Errorf("secret cut in two: %q | %q", out[max(0, len(out)-40):], text[n:])
	}
}

func TestRedactorAddIsSafeBesideBytes(t *testing.T) {
	r := jobs.NewRedactor("initial-secret")
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				v := fmt.Sprintf("runtime-secret-%d-%d", i, j)
				r.Add(v)
				if got := r.String("x " + v + " y"); got != "x [redacted] y" {
					t.Errorf("got %q", got)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkRedactorBytes(b *testing.B) {
	var secrets []string
	for i := range 8 {
		secrets = append(secrets, fmt.Sprintf("xoxb-%d-secretvalue-%040d", i, i))
	}
	r := jobs.NewRedactor(secrets...)
	line := "line 12345 of the log: compiling package with some ordinary text in it\n"
	chunk := []byte(strings.Repeat(line, (64<<10)/len(line)))
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		r.Bytes(chunk)
	}
}
