package jobs

import (
	"bytes"
	"regexp"
	"sort"
)

// Redactor hides secrets in text before it is kept or shown: the exact
// values it was given (gantry's own tokens, secret settings) and anything
// shaped like a well-known credential.
type Redactor struct {
	values [][]byte
}

// Redacted is what a secret is replaced with.
const Redacted = "[redacted]"

var secretShapes = regexp.MustCompile(
	`xox[abposr]-[A-Za-z0-9-]{10,}` + // Slack tokens
		`|xapp-[A-Za-z0-9-]{10,}` +
		`|gh[pousr]_[A-Za-z0-9]{30,}` + // GitHub tokens
		`|github_pat_[A-Za-z0-9_]{40,}` +
		`|(?:AKIA|ASIA)[A-Z0-9]{16}` + // AWS access key ids
		`|-----BEGIN [A-Z ]*PRIVATE KEY-----`)

// NewRedactor returns a redactor for these secret values. Values shorter
// than 6 bytes are ignored: hiding every "true" would hide the log instead.
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	for _, v := range values {
		if len(v) >= 6 {
			r.values = append(r.values, []byte(v))
		}
	}
	// Longest first, so a value that contains another is hidden whole.
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
	return r
}

// Bytes returns b with secrets replaced; b itself may be reused.
func (r *Redactor) Bytes(b []byte) []byte {
	if r == nil {
		return b
	}
	for _, v := range r.values {
		if bytes.Contains(b, v) {
			b = bytes.ReplaceAll(b, v, []byte(Redacted))
		}
	}
	if secretShapes.Match(b) {
		b = secretShapes.ReplaceAll(b, []byte(Redacted))
	}
	return b
}

// String is Bytes for a string.
func (r *Redactor) String(s string) string { return string(r.Bytes([]byte(s))) }
