package rdb

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Preview is the record of one running preview: a finished build's app
// kept running and served at /preview/N/.
type Preview struct {
	Job    int64
	Runner string // "local" or "ecs"
	// Addr is host:port the web server proxies to: 127.0.0.1:PORT for a
	// local preview, the task's private IP and port for ECS.
	Addr string
	// Owner names the gantry process that holds a local preview's process
	// ("" for ECS): the preview lives only as long as that process does.
	Owner   string
	Handle  string // the ECS task ARN ("" for local)
	Repo    string
	PR      int // the pull request of a PR build's preview; 0: none
	By      string
	Expires time.Time
}

func (p Preview) fields() []any {
	return []any{"job", p.Job, "runner", p.Runner, "addr", p.Addr, "owner", p.Owner, "handle", p.Handle,
		"repo", p.Repo, "pr", p.PR, "by", p.By, "expires", p.Expires.UnixMilli()}
}

func previewFrom(m map[string]string) (Preview, bool) {
	if len(m) == 0 {
		return Preview{}, false
	}
	p := Preview{Runner: m["runner"], Addr: m["addr"], Owner: m["owner"], Handle: m["handle"], Repo: m["repo"], By: m["by"]}
	p.Job, _ = strconv.ParseInt(m["job"], 10, 64)
	p.PR, _ = strconv.Atoi(m["pr"])
	ms, _ := strconv.ParseInt(m["expires"], 10, 64)
	p.Expires = time.UnixMilli(ms)
	return p, true
}

// Previews keeps the running previews: a hash per preview and a zset of
// them by expiry, which caps how many run at once.
type Previews struct {
	r redis.UniversalClient
	k Keys
}

// NewPreviews returns the previews of namespace k.
func NewPreviews(c *Client, k Keys) *Previews { return &Previews{r: c.r, k: k} }

// openPreviewScript records a preview unless the cap is reached.
//
//	KEYS[1] the previews zset, KEYS[2] the preview's hash
//	ARGV[1] the job number, ARGV[2] the cap (at most this many at once),
//	ARGV[3] the expiry (Unix ms), ARGV[4..] the hash's fields and values
//
// It returns 1 when the preview is recorded, 0 when ARGV[2] previews of
// other jobs already run. A job's preview replaces its own earlier record
// without counting twice. The hash expires a day after the preview, so a
// record that no sweeper removes does not stay.
var openPreviewScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('PEXPIREAT', KEYS[2], tonumber(ARGV[3]) + 86400000)
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
`)

// Open records p, unless max previews of other jobs already run: then ok
// is false and nothing is written.
func (s *Previews) Open(ctx context.Context, p Preview, max int) (ok bool, err error) {
	args := append([]any{p.Job, max, p.Expires.UnixMilli()}, p.fields()...)
	n, err := openPreviewScript.Run(ctx, s.r, []string{s.k.Previews(), s.k.Preview(p.Job)}, args...).Int()
	if err != nil {
		return false, fmt.Errorf("open preview of job #%d: %w", p.Job, err)
	}
	return n == 1, nil
}

// closePreviewScript removes a preview and returns what it was.
//
//	KEYS[1] the previews zset, KEYS[2] the preview's hash
//	ARGV[1] the job number, ARGV[2] "" or a time (Unix ms): close only
//	when the preview expires at or before it
//
// It returns the hash's fields and values as HGETALL does, empty when
// there was no such preview (or it had not expired). Only one caller gets
// a preview's record, so a sweeper in each process stops it once.
var closePreviewScript = redis.NewScript(`
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and (not score or tonumber(score) > tonumber(ARGV[2])) then return {} end
local h = redis.call('HGETALL', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return h
`)

func (s *Previews) close(ctx context.Context, job int64, before string) (Preview, bool, error) {
	v, err := closePreviewScript.Run(ctx, s.r, []string{s.k.Previews(), s.k.Preview(job)}, job, before).StringSlice()
	if err != nil {
		return Preview{}, false, fmt.Errorf("close preview of job #%d: %w", job, err)
	}
	m := make(map[string]string, len(v)/2)
	for i := 0; i+1 < len(v); i += 2 {
		m[v[i]] = v[i+1]
	}
	p, ok := previewFrom(m)
	if ok && p.Job == 0 {
		p.Job = job
	}
	return p, ok, nil
}

// Close removes job's preview and returns what it was; ok is false when
// it had none (or another caller closed it first).
func (s *Previews) Close(ctx context.Context, job int64) (Preview, bool, error) {
	return s.close(ctx, job, "")
}

// Expired removes the previews that expired at or before now and returns
// them; each is returned to one caller only.
func (s *Previews) Expired(ctx context.Context, now time.Time) ([]Preview, error) {
	ids, err := s.r.ZRangeByScore(ctx, s.k.Previews(), &redis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10)}).Result()
	if err != nil {
		return nil, fmt.Errorf("list expired previews: %w", err)
	}
	var out []Preview
	for _, id := range ids {
		n, _ := strconv.ParseInt(id, 10, 64)
		p, ok, err := s.close(ctx, n, strconv.FormatInt(now.UnixMilli(), 10))
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// Get returns job's preview, ok false when it has none.
func (s *Previews) Get(ctx context.Context, job int64) (Preview, bool, error) {
	m, err := s.r.HGetAll(ctx, s.k.Preview(job)).Result()
	if err != nil {
		return Preview{}, false, fmt.Errorf("read preview of job #%d: %w", job, err)
	}
	p, ok := previewFrom(m)
	return p, ok, nil
}

// List returns the running previews, soonest to expire first.
func (s *Previews) List(ctx context.Context) ([]Preview, error) {
	ids, err := s.r.ZRange(ctx, s.k.Previews(), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("list previews: %w", err)
	}
	var out []Preview
	for _, id := range ids {
		n, _ := strconv.ParseInt(id, 10, 64)
		p, ok, err := s.Get(ctx, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// extendPreviewScript moves a running preview's expiry.
//
//	KEYS[1] the previews zset, KEYS[2] the preview's hash
//	ARGV[1] the job number, ARGV[2] the new expiry (Unix ms)
//
// It returns 1 when the preview runs and was moved, 0 when it does not run.
var extendPreviewScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], 'expires', ARGV[2])
redis.call('PEXPIREAT', KEYS[2], tonumber(ARGV[2]) + 86400000)
return 1
`)

// Extend moves job's preview's expiry to until; false when it has none.
func (s *Previews) Extend(ctx context.Context, job int64, until time.Time) (bool, error) {
	n, err := extendPreviewScript.Run(ctx, s.r, []string{s.k.Previews(), s.k.Preview(job)}, job, until.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("extend preview of job #%d: %w", job, err)
	}
	return n == 1, nil
}
