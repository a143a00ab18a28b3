package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Log keeps each job's output in Redis, one string per job, appended in
// line-aligned chunks. Readers follow it by byte offset, so any number of
// them (the console, a Slack thread, a web page) can tail a job while it
// runs, and `logs` can serve the whole of it afterwards. A job's log is
// capped at MaxBytes; past that the lines are counted and dropped, and the
// log says so.
type Log struct {
	rdb    redis.UniversalClient
	keys   Keys
	cfg    LogConfig
	redact *Redactor
}

// LogConfig configures the job log. Zero values are the defaults.
type LogConfig struct {
	MaxBytes   int64         // per job; 0 is 64 MiB
	Retention  time.Duration // how long a finished job's log is kept; 0 is 30 days
	FlushEvery time.Duration // how often a writer flushes a partial chunk; 0 is 100ms
	ChunkBytes int           // flush when this much is buffered; 0 is 64 KiB
}

// NewLog returns the job log beside store s. Lines pass through redact
// (which may be nil) before they are kept.
func NewLog(s *Store, cfg LogConfig, redact *Redactor) *Log {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 64 << 20
	}
	if cfg.Retention == 0 {
		cfg.Retention = 30 * 24 * time.Hour
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = 100 * time.Millisecond
	}
	if cfg.ChunkBytes == 0 {
		cfg.ChunkBytes = 64 << 10
	}
	return &Log{rdb: s.rdb, keys: s.keys, cfg: cfg, redact: redact}
}

var appendScript = redis.NewScript(`
local size = redis.call('STRLEN', KEYS[1])
local max = tonumber(ARGV[2])
if size >= max then return -1 end
if size + string.len(ARGV[1]) > max then
  redis.call('APPEND', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return -1
end
local n = redis.call('APPEND', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return n
`)

func (l *Log) append(ctx context.Context, id int64, chunk []byte) error {
	marker := fmt.Sprintf("[gantry: the log of job #%d reached its limit of %d bytes; later lines are not kept]\n", id, l.cfg.MaxBytes)
	err := appendScript.Run(ctx, l.rdb, []string{l.keys.Log(id)}, chunk, l.cfg.MaxBytes, marker, l.cfg.Retention.Milliseconds()).Err()
	if err != nil {
		return fmt.Errorf("append to log of job #%d: %w", id, err)
	}
	return nil
}

// Size is the length in bytes of job id's log so far.
func (l *Log) Size(ctx context.Context, id int64) (int64, error) {
	n, err := l.rdb.StrLen(ctx, l.keys.Log(id)).Result()
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
	s, err := l.rdb.GetRange(ctx, l.keys.Log(id), off, off+max-1).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("read log of job #%d: %w", id, err)
	}
	return []byte(s), nil
}

// All returns job id's whole log.
func (l *Log) All(ctx context.Context, id int64) ([]byte, error) {
	s, err := l.rdb.Get(ctx, l.keys.Log(id)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read log of job #%d: %w", id, err)
	}
	return []byte(s), nil
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

// Follow calls fn with each new whole-line chunk of job id's log from
// offset from, polling every interval, until fn returns an error, ctx ends,
// or stop reports true after a poll found nothing new. It returns the offset
// it reached.
func (l *Log) Follow(ctx context.Context, id int64, from int64, interval time.Duration, stop func() bool, fn func([]byte) error) (int64, error) {
	off := from
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			b, err := l.ReadAt(ctx, id, off, 1<<20)
			if err != nil {
				return off, err
			}
			if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
				b = b[:i+1]
			} else {
				b = nil
			}
			if len(b) == 0 {
				break
			}
			off += int64(len(b))
			if err := fn(b); err != nil {
				return off, err
			}
		}
		if stop() {
			// A last read: lines written between the poll and the stop.
			b, err := l.ReadAt(ctx, id, off, 64<<20)
			if err == nil && len(b) > 0 {
				off += int64(len(b))
				err = fn(b)
			}
			return off, err
		}
		select {
		case <-ctx.Done():
			return off, ctx.Err()
		case <-t.C:
		}
	}
}

// LogWriter buffers a job's output into line-aligned chunks and appends
// them to the log, on a timer and when a chunk fills. It is safe for use by
// several goroutines (a step's stdout and stderr).
type LogWriter struct {
	log *Log
	id  int64
	ctx context.Context

	flushMu sync.Mutex // one append at a time, in order
	mu      sync.Mutex
	buf     bytes.Buffer // whole lines waiting to be appended
	partial []byte       // a line without its newline yet
	err     error
	lines   int64

	stop chan struct{}
	done chan struct{}
}

// Writer returns a writer that appends to job id's log until Close.
func (l *Log) Writer(ctx context.Context, id int64) *LogWriter {
	w := &LogWriter{log: l, id: id, ctx: context.WithoutCancel(ctx), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

func (w *LogWriter) loop() {
	defer close(w.done)
	t := time.NewTicker(w.log.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			_ = w.Flush()
		}
	}
}

// Write takes output bytes; whole lines are kept, a trailing part waits for
// its newline.
func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			if len(w.partial) >= w.log.cfg.ChunkBytes {
				w.addLine(w.partial)
				w.partial = w.partial[:0]
			}
			break
		}
		if len(w.partial) > 0 {
			w.partial = append(w.partial, p[:i]...)
			w.addLine(w.partial)
			w.partial = w.partial[:0]
		} else {
			w.addLine(p[:i])
		}
		p = p[i+1:]
	}
	full := w.buf.Len() >= w.log.cfg.ChunkBytes
	err := w.err
	w.mu.Unlock()
	if full {
		if ferr := w.Flush(); ferr != nil {
			return n, ferr
		}
	}
	return n, err
}

// Line adds one whole line (gantry's own remarks, step markers).
func (w *LogWriter) Line(s string) {
	w.mu.Lock()
	if len(w.partial) > 0 {
		w.addLine(w.partial)
		w.partial = w.partial[:0]
	}
	w.addLine([]byte(s))
	w.mu.Unlock()
}

func (w *LogWriter) addLine(b []byte) {
	b = bytes.TrimSuffix(b, []byte("\r"))
	w.buf.Write(b)
	w.buf.WriteByte('\n')
	w.lines++
}

// Lines is how many lines the writer has taken.
func (w *LogWriter) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Flush appends what is buffered. When it returns, everything written
// before the call is in Redis, in order.
func (w *LogWriter) Flush() error {
	w.flushMu.Lock()
	defer w.flushMu.Unlock()
	w.mu.Lock()
	if w.buf.Len() == 0 {
		err := w.err
		w.mu.Unlock()
		return err
	}
	chunk := bytes.Clone(w.buf.Bytes())
	w.buf.Reset()
	w.mu.Unlock()
	if w.log.redact != nil {
		chunk = w.log.redact.Bytes(chunk)
	}
	err := w.log.append(w.ctx, w.id, chunk)
	if err != nil {
		w.mu.Lock()
		w.err = err
		w.mu.Unlock()
	}
	return err
}

// Close flushes everything, the last partial line too, and stops the timer.
func (w *LogWriter) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
	w.mu.Lock()
	if len(w.partial) > 0 {
		w.addLine(w.partial)
		w.partial = nil
	}
	w.mu.Unlock()
	return w.Flush()
}
