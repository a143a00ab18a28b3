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

// List is the signed link to the list of jobs (web.public unset), valid
// for the link TTL. Its signature covers the word "list" and the expiry
// only, so whoever holds it may change the list's filters and pages.
func (l *Links) List() string {
	return l.base + "/jobs?" + l.ListQuery()
}

// ListQuery is the signed query string of the list of jobs.
func (l *Links) ListQuery() string {
	exp := l.now().Add(l.ttl).Unix()
	return "exp=" + strconv.FormatInt(exp, 10) + "&sig=" + l.signList(exp)
}

func (l *Links) signList(exp int64) string {
	m := hmac.New(sha256.New, l.secret)
	fmt.Fprintf(m, "list:exp:%d", exp)
	return hex.EncodeToString(m.Sum(nil))
}

// queryUntil is the signed query for job id that expires at exp (Unix
// seconds): the list hands out links to its jobs that last no longer than
// its own.
func (l *Links) queryUntil(id, exp int64) string {
	return "exp=" + strconv.FormatInt(exp, 10) + "&sig=" + l.sign(id, exp)
}

// Errors a link check gives.
var (
	ErrUnsigned = errors.New("this link is not signed")
	ErrExpired  = errors.New("this link has expired")
	ErrForged   = errors.New("this link's signature does not match")
)

// Check verifies the exp and sig of q for job id.
func (l *Links) Check(id int64, q url.Values) error {
	_, err := l.check(q, func(exp int64) string { return l.sign(id, exp) })
	return err
}

// CheckList verifies the exp and sig of q for the list of jobs, and
// returns the expiry.
func (l *Links) CheckList(q url.Values) (int64, error) {
	return l.check(q, l.signList)
}

// check verifies q's signature against the one sign makes for its expiry,
// then the expiry.
func (l *Links) check(q url.Values, sign func(exp int64) string) (int64, error) {
	exps, sig := q.Get("exp"), q.Get("sig")
	if exps == "" || sig == "" {
		return 0, ErrUnsigned
	}
	exp, err := strconv.ParseInt(exps, 10, 64)
	if err != nil {
		return 0, ErrForged
	}
	if !hmac.Equal([]byte(sign(exp)), []byte(sig)) {
		return 0, ErrForged
	}
	if l.now().Unix() > exp {
		return 0, ErrExpired
	}
	return exp, nil
}
