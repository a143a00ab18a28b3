package jobs

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Redactor hides secrets in text before it is kept or shown: the exact
// values it was given (gantry's own tokens, secret settings, values learned
// while running) and anything shaped like a well-known credential.
//
// A value is hidden in the forms a step can print it without trying hard:
// as it is, base64 (standard and URL-safe, padded or not, wherever it falls
// in the encoded bytes), percent-encoded (query or path style) and hex, and
// also when an encoder wrapped it over several lines. A step that means to
// leak a secret it can read can always encode it some other way; redaction
// is for the output people did not mean to show, the real boundary is that
// builds never receive gantry's own secrets.
//
// A nil *Redactor hides nothing. All methods are safe for concurrent use.
type Redactor struct {
	mu     sync.Mutex // serialises Add
	values [][]byte
	m      atomic.Pointer[matcher]
}

// Redacted is what a secret is replaced with.
const Redacted = "[redacted]"

// minSecret is the shortest value hidden: hiding every "true" would hide
// the log instead.
const minSecret = 6

// shapeReach bounds how long a match of secretShapes is assumed to be when
// a long line must be cut: real tokens of these shapes are under 256 bytes.
const shapeReach = 256

// secretShapes are well-known credential shapes. Each starts with a literal
// prefix, which lets the regexp package skip to candidates instead of
// stepping through every byte: one alternation of them all runs at a few
// MB/s, these at hundreds.
var secretShapes = []*regexp.Regexp{
	regexp.MustCompile(`xox[abposr]-[A-Za-z0-9-]{10,}`), // Slack tokens
	regexp.MustCompile(`xapp-[A-Za-z0-9-]{10,}`),
	regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{30,}`), // GitHub tokens
	regexp.MustCompile(`github_pat_[A-Za-z0-9_]{40,}`),
	regexp.MustCompile(`AKIA[A-Z0-9]{16}`), // AWS access key ids
	regexp.MustCompile(`ASIA[A-Z0-9]{16}`),
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),
}

// NewRedactor returns a redactor for these secret values. Values shorter
// than 6 bytes are ignored.
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	r.Add(values...)
	return r
}

// Add makes r hide these values too, from the next call of Bytes on: the
// link secret read from Redis, secrets fetched for a job, GANTRY_SECRET_*.
// Values shorter than 6 bytes and values already known are ignored.
func (r *Redactor) Add(values ...string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, v := range values {
		b := []byte(v)
		if len(stripBreaks(b)) < minSecret || r.knows(b) {
			continue
		}
		r.values = append(r.values, b)
		added = true
	}
	if !added && r.m.Load() != nil {
		return
	}
	var patterns [][]byte
	for _, v := range r.values {
		patterns = append(patterns, encodedForms(v)...)
	}
	r.m.Store(newMatcher(patterns))
}

func (r *Redactor) knows(v []byte) bool {
	for _, have := range r.values {
		if bytes.Equal(have, v) {
			return true
		}
	}
	return false
}

// Overlap is how many bytes before the end of a text may belong to a secret
// that continues after it: the longest pattern r can match, less one. A
// writer that must cut a text keeps that many bytes back and redacts them
// with what follows. Line breaks are not counted (see matcher).
func (r *Redactor) Overlap() int {
	if r == nil {
		return 0
	}
	return max(r.valueOverlap(), shapeReach-1)
}

// valueOverlap is Overlap for the known values alone.
func (r *Redactor) valueOverlap() int {
	if r == nil {
		return 0
	}
	if m := r.m.Load(); m != nil && m.maxLen > 0 {
		return m.maxLen - 1
	}
	return 0
}

// Bytes returns b with secrets replaced; b itself may be returned.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil {
		return b
	}
	return replaceSpans(b, r.spans(b), len(b))
}

// String is Bytes for a string.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	return string(r.Bytes([]byte(s)))
}

// spans are the parts of b that r hides, merged and in order.
func (r *Redactor) spans(b []byte) []span {
	spans := r.m.Load().find(b, nil)
	for _, re := range secretShapes {
		for _, ix := range re.FindAllIndex(b, -1) {
			spans = append(spans, span{ix[0], ix[1]})
		}
	}
	if len(spans) == 0 {
		return nil
	}
	return mergeSpans(spans)
}

// Prefix redacts a prefix of b that is safe to let go of while more text
// is still to come, and returns it with its length in b. What may be the
// start of a secret that continues after b (the last Overlap bytes) is left
// for later, and so is a secret that straddles that point; a secret that
// ends within b but starts before it is taken whole.
func (r *Redactor) Prefix(b []byte) ([]byte, int) {
	if r == nil {
		return b, len(b)
	}
	cut := backFrom(b, r.Overlap())
	spans := r.spans(b)
	for _, sp := range spans {
		if sp.start < cut && sp.end > cut {
			if sp.end == len(b) && sp.start > 0 {
				cut = sp.start // it may go on: keep it whole for later
			} else {
				cut = sp.end
			}
			break
		}
	}
	return replaceSpans(b, spans, cut), cut
}

// backFrom is the offset in b that leaves n bytes after it, not counting
// line breaks.
func backFrom(b []byte, n int) int {
	i := len(b)
	for i > 0 && n > 0 {
		i--
		if !isBreak(b[i]) {
			n--
		}
	}
	return i
}

// replaceSpans returns b[:end] with each span that lies in it replaced by
// Redacted. Line breaks inside a span are kept after the mark, so the text
// keeps its lines.
func replaceSpans(b []byte, spans []span, end int) []byte {
	if len(spans) == 0 || spans[0].start >= end {
		return b[:end]
	}
	out := make([]byte, 0, end)
	prev := 0
	for _, sp := range spans {
		if sp.end > end {
			break
		}
		out = append(out, b[prev:sp.start]...)
		out = append(out, Redacted...)
		for _, c := range b[sp.start:sp.end] {
			if isBreak(c) {
				out = append(out, c)
			}
		}
		prev = sp.end
	}
	return append(out, b[prev:end]...)
}

// encodedForms are the texts that show v: v itself, hex, percent-encoding
// and, for base64, the part of the encoding that depends on v alone.
func encodedForms(v []byte) [][]byte {
	h := hex.EncodeToString(v)
	forms := []string{string(v), h, strings.ToUpper(h)}
	for _, e := range []string{url.QueryEscape(string(v)), url.PathEscape(string(v))} {
		forms = append(forms, e, lowerEscapes(e))
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		for lead := range 3 {
			forms = append(forms, base64Core(enc, v, lead))
		}
	}
	var out [][]byte
	seen := map[string]bool{}
	for _, f := range forms {
		if len(f) > 0 && !seen[f] {
			seen[f] = true
			out = append(out, []byte(f))
		}
	}
	return out
}

// base64Core is the part of the base64 of v, preceded by lead other bytes,
// that is the same whatever those bytes are and whatever follows v: each
// character stands for 6 bits, and only those made of v's bits alone are
// kept. With lead 0, 1 and 2 this finds v wherever it sits in the encoded
// input, with or without padding.
func base64Core(enc *base64.Encoding, v []byte, lead int) string {
	src := make([]byte, lead+len(v))
	copy(src[lead:], v)
	e := enc.EncodeToString(src)
	from := (8*lead + 5) / 6      // first character with no bit of the lead
	to := 8 * (lead + len(v)) / 6 // characters that end within v
	return e[from:to]
}

// lowerEscapes writes the hex digits of %XX escapes in lower case, as some
// encoders do.
func lowerEscapes(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = toLowerHex(b[i+1])
			b[i+2] = toLowerHex(b[i+2])
		}
	}
	return string(b)
}

func toLowerHex(c byte) byte {
	if c >= 'A' && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}
