package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

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

// appendResult is what one append found; see appendScript.
type appendResult struct {
	status string
	size   int64
}

func (l *Log) capMarker(id int64) string {
	return fmt.Sprintf("[gantry: the log of job #%d reached its limit of %d bytes; later lines are not kept]\n", id, l.cfg.MaxBytes)
}

// appendAt appends chunk to job id's log where the writer expects it to
// land, at offset off.
// at is when the output was taken (zero for gantry's own notes).
func (l *Log) appendAt(ctx context.Context, id int64, chunk []byte, off int64, at time.Time) (appendResult, error) {
	ms := int64(0)
	if !at.IsZero() {
		ms = at.UnixMilli()
	}
	v, err := appendScript.Run(ctx, l.rdb, []string{l.keys.Log(id), l.keys.LogTimes(id)},
		chunk, off, l.cfg.MaxBytes, l.capMarker(id), l.cfg.Retention.Milliseconds(), ms).Slice()
	if err != nil {
		return appendResult{}, fmt.Errorf("append to log of job #%d: %w", id, err)
	}
	if len(v) != 2 {
		return appendResult{}, fmt.Errorf("append to log of job #%d: unexpected reply %v", id, v)
	}
	status, _ := v[0].(string)
	size, ok := v[1].(int64)
	if status == "" || !ok {
		return appendResult{}, fmt.Errorf("append to log of job #%d: unexpected reply %v", id, v)
	}
	return appendResult{status: status, size: size}, nil
}
