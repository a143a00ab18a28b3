package rdb

import (
	"context"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Audit is the stream of decisions: requests, approvals, rejections,
// locks, releases. It keeps the newest 100,000.
type Audit struct {
	r redis.UniversalClient
	k Keys
}

// NewAudit returns the audit stream of namespace k.
func NewAudit(c *Client, k Keys) *Audit { return &Audit{r: c.r, k: k} }

// AuditEntry is one decision as the audit stream keeps it.
type AuditEntry struct {
	ID     string // the stream id (set by Newest)
	At     time.Time
	Who    string
	Action string
	Env    string
	Job    int64
	Detail string
}

// Add writes e (its ID is not used).
func (a *Audit) Add(ctx context.Context, e AuditEntry) error {
	return a.r.XAdd(ctx, &redis.XAddArgs{
		Stream: a.k.Audit(), MaxLen: 100000, Approx: true,
		Values: []any{"who", e.Who, "action", e.Action, "env", e.Env, "job", e.Job, "detail", e.Detail, "at", e.At.UnixMilli()},
	}).Err()
}

// Newest returns up to count entries, newest first, older than the entry
// with stream id before ("" for the newest).
func (a *Audit) Newest(ctx context.Context, before string, count int64) ([]AuditEntry, error) {
	last := "+"
	if before != "" {
		last = "(" + before
	}
	msgs, err := a.r.XRevRangeN(ctx, a.k.Audit(), last, "-", count).Result()
	if err != nil {
		return nil, err
	}
	out := make([]AuditEntry, len(msgs))
	for i, m := range msgs {
		e := AuditEntry{ID: m.ID}
		e.Who, _ = m.Values["who"].(string)
		e.Action, _ = m.Values["action"].(string)
		e.Env, _ = m.Values["env"].(string)
		e.Detail, _ = m.Values["detail"].(string)
		js, _ := m.Values["job"].(string)
		e.Job, _ = strconv.ParseInt(js, 10, 64)
		at, _ := m.Values["at"].(string)
		e.At = msTime(at)
		out[i] = e
	}
	return out, nil
}
