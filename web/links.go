package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Links signs and checks the links to job pages. A link carries its expiry
// and an HMAC of the job number and that expiry, so it cannot be altered,
// moved to another job, or used after it expires.
type Links struct {
	base   string // GANTRY_PUBLIC_URL, without a trailing slash
	secret []byte
	ttl    time.Duration
	now    func() time.Time
}

// NewLinks returns a signer for links under base.
func NewLinks(base string, secret []byte, ttl time.Duration, now func() time.Time) *Links {
	for len(base) > 0 && base[len(base)-1] == '/' {
		base = base[:len(base)-1]
	}
	if ttl <= 0 {
		ttl = 30 * 24 * time.Hour
	}
	if now == nil {
		now = time.Now
	}
	return &Links{base: base, secret: secret, ttl: ttl, now: now}
}

func (l *Links) sign(id int64, exp int64) string {
	m := hmac.New(sha256.New, l.secret)
	fmt.Fprintf(m, "job:%d:exp:%d", id, exp)
	return hex.EncodeToString(m.Sum(nil))
}

// Query is the signed query string for job id, valid for the link TTL.
func (l *Links) Query(id int64) string {
	exp := l.now().Add(l.ttl).Unix()
	return "exp=" + strconv.FormatInt(exp, 10) + "&sig=" + l.sign(id, exp)
}

// Job is the signed link to job id's page.
func (l *Links) Job(id int64) string {
	return fmt.Sprintf("%s/jobs/%d?%s", l.base, id, l.Query(id))
}

// Errors a link check gives.
var (
	ErrUnsigned = errors.New("this link is not signed")
	ErrExpired  = errors.New("this link has expired")
	ErrForged   = errors.New("this link's signature does not match")
)

// Check verifies the exp and sig of q for job id.
func (l *Links) Check(id int64, q url.Values) error {
	exps, sig := q.Get("exp"), q.Get("sig")
	if exps == "" || sig == "" {
		return ErrUnsigned
	}
	exp, err := strconv.ParseInt(exps, 10, 64)
	if err != nil {
		return ErrForged
	}
	want := l.sign(id, exp)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return ErrForged
	}
	if l.now().Unix() > exp {
		return ErrExpired
	}
	return nil
}
