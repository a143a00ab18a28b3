package rdb

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Messages is the index from a job's Slack message (channel and ts) to
// the job, kept beside the job's record.
type Messages struct {
	r    redis.UniversalClient
	k    Keys
	keep time.Duration
}

// NewMessages returns the message index of namespace k, whose entries
// live for keep.
func NewMessages(c *Client, k Keys, keep time.Duration) *Messages {
	return &Messages{r: c.r, k: k, keep: keep}
}

// setThreadScript records where a job's message is.
//
//	KEYS[1] the job record, KEYS[2] the message index (channel and ts)
//	ARGV[1] the message's ts, ARGV[2] the job number, ARGV[3] how long the
//	index is kept (ms)
//
// It returns 0 when there is no such job (nothing written), else 1.
var setThreadScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'thread_ts', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return 1
`)

// Set records that job id's message is at channel/ts: the record's
// thread_ts, and the index. It reports false when there is no such job.
func (m *Messages) Set(ctx context.Context, id int64, channel, ts string) (bool, error) {
	keys := []string{m.k.Job(id), m.k.Message(channel, ts)}
	n, err := setThreadScript.Run(ctx, m.r, keys, ts, id, m.keep.Milliseconds()).Int()
	return n == 1, err
}

// Job finds the job whose message is at channel/ts; false when none.
func (m *Messages) Job(ctx context.Context, channel, ts string) (int64, bool, error) {
	id, err := m.r.Get(ctx, m.k.Message(channel, ts)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, false, nil
	}
	return id, err == nil, err
}
