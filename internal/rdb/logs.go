package rdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Logs keeps each job's output, one string per job appended in chunks,
// and the dates of its output (a list of "OFFSET MS" entries). Readers
// follow a log by byte offset.
type Logs struct {
	r redis.UniversalClient
	k Keys
}

// NewLogs returns the job logs of namespace k.
func NewLogs(c *Client, k Keys) *Logs { return &Logs{r: c.r, k: k} }

// appendScript appends ARGV[1] to the log KEYS[1] at the offset ARGV[2]
// the writer expects it to land at, so that an append can be sent again
// after any failure without being stored twice:
//
//   - the log ends with the cap marker ARGV[4]: nothing more is kept
//     ("capped");
//   - the log is exactly as long as expected: the chunk is appended ("ok");
//   - it is longer, and what lies past the offset is the chunk or the start
//     of it: an earlier attempt (or a stale one from a timed-out connection,
//     which a frozen Redis runs when it wakes) already landed; only what is
//     missing is appended ("ok");
//   - it is longer with other bytes there: something else wrote; nothing is
//     appended and the size is returned so the writer can decide
//     ("conflict"), which also keeps a stale attempt from landing late;
//   - it is shorter: a failover to a replica lost the tail; nothing is
//     appended, and the size is returned so the writer can put the tail
//     back ("short").
//
// When the chunk would take the log past the cap ARGV[3], the marker is
// appended instead, on a line of its own. Every write renews the
// retention ARGV[5] (milliseconds) of the log and of its dates, KEYS[2]: a
// list of "OFFSET MS" entries, one pushed for the bytes appended when ARGV[6]
// (when the output was taken, in Unix milliseconds; 0 for gantry's own
// notes) is at least a second after the last entry's. The reply is
// {status, new length}.
//
// KEYS: log, log dates. ARGV: chunk, expected offset, cap, cap marker,
// retention ms, taken-at ms.
var appendScript = redis.NewScript(`
local key, chunk, mark = KEYS[1], ARGV[1], ARGV[4]
local off, cap, ttl = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[5]
local size = redis.call('STRLEN', key)
local n, m = string.len(chunk), string.len(mark)
if size >= m and redis.call('GETRANGE', key, size - m, size - 1) == mark then
  return {'capped', size}
end
if size < off then return {'short', size} end
local rest = chunk
if size > off then
  local have = redis.call('GETRANGE', key, off, math.min(size, off + n) - 1)
  if have ~= string.sub(chunk, 1, string.len(have)) then return {'conflict', size} end
  if string.len(have) == n then return {'ok', off + n} end
  rest = string.sub(chunk, string.len(have) + 1)
end
if size + string.len(rest) > cap then
  if size > 0 and redis.call('GETRANGE', key, size - 1, size - 1) ~= '\n' then
    redis.call('APPEND', key, '\n')
  end
  local total = redis.call('APPEND', key, mark)
  redis.call('PEXPIRE', key, ttl)
  return {'capped', total}
end
local at = tonumber(ARGV[6])
if at > 0 then
  local last = redis.call('LINDEX', KEYS[2], -1)
  local lastAt = last and tonumber(string.match(last, ' (%d+)$')) or 0
  if at - lastAt >= 1000 then
    redis.call('RPUSH', KEYS[2], ARGV[2] .. ' ' .. ARGV[6])
  end
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local total = redis.call('APPEND', key, rest)
redis.call('PEXPIRE', key, ttl)
return {'ok', total}
`)

// The statuses of an append; see appendScript.
const (
	AppendOK       = "ok"
	AppendCapped   = "capped"
	AppendShort    = "short"
	AppendConflict = "conflict"
)

// Append is one append to a job's log; see appendScript.
type Append struct {
	Chunk  []byte
	Offset int64         // where the writer expects the chunk to land
	Cap    int64         // the log's cap in bytes
	Marker string        // the line that ends a capped log
	Keep   time.Duration // how long the log and its dates live after this write
	At     time.Time     // when the output was taken; zero for gantry's own notes
}

// Appended is what an append found: its status and the log's length.
type Appended struct {
	Status string
	Size   int64
}

// Append appends a chunk to job id's log where the writer expects it to
// land (see appendScript).
func (l *Logs) Append(ctx context.Context, id int64, a Append) (Appended, error) {
	ms := int64(0)
	if !a.At.IsZero() {
		ms = a.At.UnixMilli()
	}
	v, err := appendScript.Run(ctx, l.r, []string{l.k.Log(id), l.k.LogTimes(id)},
		a.Chunk, a.Offset, a.Cap, a.Marker, a.Keep.Milliseconds(), ms).Slice()
	if err != nil {
		return Appended{}, err
	}
	if len(v) != 2 {
		return Appended{}, fmt.Errorf("unexpected reply %v", v)
	}
	status, _ := v[0].(string)
	size, ok := v[1].(int64)
	if status == "" || !ok {
		return Appended{}, fmt.Errorf("unexpected reply %v", v)
	}
	return Appended{Status: status, Size: size}, nil
}

// Size is the length in bytes of job id's log.
func (l *Logs) Size(ctx context.Context, id int64) (int64, error) {
	return l.r.StrLen(ctx, l.k.Log(id)).Result()
}

// ReadAt returns up to max (at least 1) bytes of job id's log from
// offset off.
func (l *Logs) ReadAt(ctx context.Context, id int64, off, max int64) ([]byte, error) {
	s, err := l.r.GetRange(ctx, l.k.Log(id), off, off+max-1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return []byte(s), nil
}

// All returns job id's whole log; nil when it has none.
func (l *Logs) All(ctx context.Context, id int64) ([]byte, error) {
	s, err := l.r.Get(ctx, l.k.Log(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

// Times returns the dates of job id's log as kept: "OFFSET MS" entries,
// in the order they were pushed.
func (l *Logs) Times(ctx context.Context, id int64) ([]string, error) {
	return l.r.LRange(ctx, l.k.LogTimes(id), 0, -1).Result()
}
