package jobs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// Log keeps each job's output in Redis, one string per job, appended in
// chunks. Readers follow it by byte offset, so any number of them (the
// console, a Slack thread, a web page) can tail a job while it runs, and
// `logs` can serve the whole of it afterwards. A job's log is capped at
// MaxBytes; past that the output is dropped, and the log says so.
//
// Writing is built so that a Redis that goes away for a while (a restart,
// a failover, a freeze) costs no line: see LogWriter. Reading is built so
// that a follower rides out the same faults: see Follow.
type Log struct {
	logs   *rdb.Logs
	cfg    LogConfig
	redact *Redactor
	logger *slog.Logger

	dropped atomic.Int64
}

// LogConfig configures the job log. Zero values are the defaults.
type LogConfig struct {
	MaxBytes   int64         // per job; 0 is 64 MiB
	Retention  time.Duration // how long a finished job's log is kept; 0 is 30 days
	FlushEvery time.Duration // how often a writer sends what it has; 0 is 100ms
	ChunkBytes int           // the largest single append; 0 is 64 KiB

	// BufferBytes bounds the output a writer holds for Redis, per job,
	// while Redis is away; past it the oldest output not yet sent is
	// dropped and the log says how much and where. 0 is 4 MiB; it is never
	// less than 2 chunks.
	BufferBytes int
	// RetainBytes is how much of what it stored a writer keeps, to put
	// back the tail of the log if a failover to a replica loses it. 0 is
	// 1 MiB; negative keeps nothing.
	RetainBytes int
	// CloseWait bounds how long Close and Flush wait for Redis to take what
	// is buffered. 0 is 30s.
	CloseWait time.Duration
	// StallWait is how long an append may make no progress before Redis
	// counts as away. Until then Write waits for room in a full buffer (a
	// slow Redis slows the step a little instead of losing output); once
	// Redis is away, or appends fail, Write never waits and the buffer
	// drops its oldest output instead. 0 is 10s: long enough that a busy
	// machine is not taken for an absent Redis (a frozen one fails appends
	// sooner, at the client's read timeout).
	StallWait time.Duration
	// Backoff is the wait before retry n (1, 2, …) of a failed append or
	// read. nil is 50ms doubling to 2s, with jitter.
	Backoff func(n int) time.Duration
	// Logger receives the log path's own troubles; nil is slog.Default().
	Logger *slog.Logger
	// Now is the clock that dates output (see Times); nil is time.Now.
	Now func() time.Time
}

// NewLog returns the job log beside store s. Output passes through redact
// (which may be nil) before it is kept.
func NewLog(s *Store, cfg LogConfig, redact *Redactor) *Log {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.Retention == 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 100 * time.Millisecond
	}
	if cfg.ChunkBytes == 0 {
		cfg.ChunkBytes = 64 << 10
	}
	if cfg.BufferBytes == 0 {
		cfg.BufferBytes = 4 << 20
	}
	cfg.BufferBytes = max(cfg.BufferBytes, 2*cfg.ChunkBytes)
	if cfg.RetainBytes == 0 {
		cfg.RetainBytes = 1 << 20
	}
	if cfg.CloseWait == 0 {
		cfg.CloseWait = 30 * time.Second
	}
	if cfg.StallWait == 0 {
		cfg.StallWait = 10 * time.Second
	}
	if cfg.Backoff == nil {
		cfg.Backoff = defaultBackoff
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Log{logs: rdb.NewLogs(s.c, s.keys), cfg: cfg, redact: redact, logger: logger}
}

// defaultBackoff is 50ms doubling to 2s, each wait between 75% and 125% of
// that so that many writers do not knock together.
func defaultBackoff(n int) time.Duration {
	d := 2 * time.Second
	if n < 6 {
		d = 50 * time.Millisecond << (n - 1)
	}
	return d*3/4 + rand.N(d/2+1)
}

// DroppedBytes is how many bytes of output all writers of this log have
// dropped or seen lost so far: output that did not fit the buffer while
// Redis was away, output still unsent when Close gave up, and a tail a
// failover lost that the writer no longer had. Bytes past MaxBytes are not
// counted: the cap is policy, not loss.
func (l *Log) DroppedBytes() int64 { return l.dropped.Load() }

// Size is the length in bytes of job id's log so far.
func (l *Log) Size(ctx context.Context, id int64) (int64, error) {
	n, err := l.logs.Size(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("size of log of job #%d: %w", id, err)
	}
	return n, nil
}

// ReadAt returns up to max bytes of job id's log from offset off.
func (l *Log) ReadAt(ctx context.Context, id int64, off, max int64) ([]byte, error) {
	if max <= 0 {
		return nil, nil
	}
	b, err := l.logs.ReadAt(ctx, id, off, max)
	if err != nil {
		return nil, fmt.Errorf("read log of job #%d: %w", id, err)
	}
	return b, nil
}

// All returns job id's whole log. Prefer WriteTo for what may be large.
func (l *Log) All(ctx context.Context, id int64) ([]byte, error) {
	b, err := l.logs.All(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read log of job #%d: %w", id, err)
	}
	return b, nil
}

// readRange is how much WriteRange reads from Redis at a time.
const readRange = 256 << 10

// WriteTo copies job id's whole log to w, reading it in ranges, so that
// serving a large log takes little memory.
func (l *Log) WriteTo(ctx context.Context, id int64, w io.Writer) (int64, error) {
	return l.WriteRange(ctx, id, 0, -1, w)
}

// WriteRange copies n bytes of job id's log from offset off to w, or up to
// the end if n is negative or the log ends first, reading in ranges of
// 256 KiB. It returns how many bytes it wrote.
func (l *Log) WriteRange(ctx context.Context, id int64, off, n int64, w io.Writer) (int64, error) {
	var written int64
	for n < 0 || written < n {
		want := int64(readRange)
		if n >= 0 {
			want = min(want, n-written)
		}
		b, err := l.ReadAt(ctx, id, off+written, want)
		if err != nil {
			return written, err
		}
		k, err := w.Write(b)
		written += int64(k)
		if err != nil {
			return written, fmt.Errorf("copy log of job #%d: %w", id, err)
		}
		if int64(len(b)) < want {
			break
		}
	}
	return written, nil
}

// Tail returns the last n lines of job id's log.
func (l *Log) Tail(ctx context.Context, id int64, n int) ([]string, error) {
	size, err := l.Size(ctx, id)
	if err != nil || size == 0 || n <= 0 {
		return nil, err
	}
	window := int64(8 << 10)
	for {
		off := max(size-window, 0)
		b, err := l.ReadAt(ctx, id, off, size-off)
		if err != nil {
			return nil, err
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		lines := bytes.Split(b, []byte("\n"))
		if off > 0 {
			lines = lines[1:] // the first may be cut
		}
		if len(lines) >= n || off == 0 || window >= 4<<20 {
			if len(lines) > n {
				lines = lines[len(lines)-n:]
			}
			out := make([]string, len(lines))
			for i, ln := range lines {
				out[i] = string(ln)
			}
			return out, nil
		}
		window *= 4
	}
}
