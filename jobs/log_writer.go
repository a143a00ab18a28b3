package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// LogWriter takes a job's output and appends it to the log. It is safe for
// use by several goroutines (a step's stdout and stderr).
//
// Write never fails and never waits for an absent Redis, so a step's output
// pipe never backs up: output is redacted into chunks that wait in a bounded
// buffer (LogConfig.BufferBytes) while a sender goroutine appends them in
// order, retrying with backoff until Redis takes them. (A full buffer while
// Redis is merely slower than the step makes Write wait, at most
// LogConfig.StallWait.) Each append states
// the offset it expects (see rdb.Logs.Append), so a retried or late append is
// stored once. If the buffer overflows, the oldest output not yet being sent
// is dropped and a line in the log says how much was dropped there.
//
// Redaction sees whole lines: output waits for its newline, and a line is
// never broken by an inserted newline. A line longer than a chunk goes out
// in pieces, each leaving the last Redactor.Overlap bytes behind to be
// redacted with what follows, so a secret is hidden wherever the pieces
// fall. Trailing lines that look like wrapped base64 or hex are held back
// the same way until more output comes (or Flush, or Close), since a secret
// can be wrapped across them.
type LogWriter struct {
	log *Log
	cfg LogConfig
	id  int64
	// These are set when the first output starts the writer.
	ctx    context.Context // for appends; cancelled when Close stops waiting
	cancel context.CancelFunc
	logger *slog.Logger

	mu      sync.Mutex
	raw     []byte // output taken, not yet redacted: whole lines, then perhaps part of one
	lines   int64
	closed  bool
	started bool // the ticker and the sender run: something was written
	q       outbox

	closeOnce sync.Once
	closeErr  error

	wake     chan struct{} // tells the sender there is work (capacity 1)
	tickStop chan struct{}
	tickDone chan struct{}
	sendDone chan struct{}
	quit     chan struct{} // closed when Close stops waiting for Redis
}

// errNotStored is why output is unsent when Redis reported no error: it
// was not answering in time.
var errNotStored = errors.New("Redis did not take it in time")

// Writer returns a writer that appends to job id's log until Close. It
// costs nothing until the first output: a job that prints nothing makes
// no call to Redis for its log.
func (l *Log) Writer(ctx context.Context, id int64) *LogWriter {
	return &LogWriter{log: l, cfg: l.cfg, id: id, ctx: context.WithoutCancel(ctx)}
}

// start sets the ticker and the sender going, once, when the first output
// comes. w.mu is held.
func (w *LogWriter) start() {
	if w.started {
		return
	}
	w.started = true
	w.ctx, w.cancel = context.WithCancel(w.ctx)
	w.logger = w.log.logger.With("job", w.id)
	w.wake, w.tickStop, w.tickDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	w.sendDone, w.quit, w.q.progress = make(chan struct{}), make(chan struct{}), make(chan struct{})
	w.q.since = time.Now()
	go w.tick()
	go w.send()
}

// tick hands what has been written to the sender every FlushEvery.
func (w *LogWriter) tick() {
	defer close(w.tickDone)
	t := time.NewTicker(w.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-w.tickStop:
			return
		case <-t.C:
			w.mu.Lock()
			w.cut(true)
			w.mu.Unlock()
			w.poke()
		}
	}
}

func (w *LogWriter) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Write takes output bytes. It always takes all of p and returns no error.
func (w *LogWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		k := min(len(p), w.cfg.ChunkBytes)
		w.waitRoom()
		w.mu.Lock()
		w.take(p[:k])
		w.mu.Unlock()
		p = p[k:]
	}
	return n, nil
}

// Line adds one whole line (gantry's own remarks, step markers), ending a
// partial line first.
func (w *LogWriter) Line(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		w.late(len(s) + 1)
		return
	}
	w.start()
	w.endLine()
	w.raw = append(w.raw, s...)
	w.raw = append(w.raw, '\n')
	w.lines++
	if len(w.raw) >= w.cfg.ChunkBytes {
		w.cut(true)
		w.poke()
	}
}

// Lines is how many lines the writer has taken.
func (w *LogWriter) Lines() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// Dropped is how many bytes of this job's output were not kept (see
// Log.DroppedBytes).
func (w *LogWriter) Dropped() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.q.dropped
}

// Flush sends every whole line written so far, including lines held back
// for redaction, and waits until Redis has them, at most CloseWait. A
// partial line stays until its newline comes.
func (w *LogWriter) Flush() error {
	w.mu.Lock()
	if !w.closed {
		w.cut(false)
	}
	target := w.q.seq
	w.mu.Unlock()
	w.poke()
	return w.waitSent(target)
}

// Close sends everything, ending a last partial line, and waits for Redis
// to take it, at most CloseWait. It reports the output that was not kept,
// if any: dropped while Redis was away or still unsent when the wait ended.
func (w *LogWriter) Close() error {
	w.closeOnce.Do(func() { w.closeErr = w.close() })
	return w.closeErr
}

// Abandon stops the writer at once and keeps nothing more: for a run that
// lost its job to another worker, whose late output must not land among
// the next run's. What was not stored yet is counted as dropped.
func (w *LogWriter) Abandon() {
	w.closeOnce.Do(func() {
		if w.closeUnstarted() {
			return
		}
		close(w.tickStop)
		<-w.tickDone
		w.mu.Lock()
		w.endLine()
		w.cut(false) // so that report counts it as dropped
		w.closed = true
		w.mu.Unlock()
		close(w.quit)
		w.cancel()
		<-w.sendDone
		w.closeErr = w.report()
	})
}

func (w *LogWriter) close() error {
	if w.closeUnstarted() {
		return nil
	}
	close(w.tickStop)
	<-w.tickDone
	w.mu.Lock()
	w.endLine()
	w.cut(false)
	w.closed = true
	w.mu.Unlock()
	w.poke()
	t := time.NewTimer(w.cfg.CloseWait)
	defer t.Stop()
	select {
	case <-w.sendDone:
	case <-t.C:
		close(w.quit)
		w.cancel()
		<-w.sendDone
	}
	w.cancel()
	return w.report()
}

// closeUnstarted closes a writer that was never written to, and reports
// whether it was one: it has nothing to send and nothing to wait for.
func (w *LogWriter) closeUnstarted() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return false
	}
	w.closed = true
	return true
}

// endLine ends a partial line with a newline.
func (w *LogWriter) endLine() {
	if n := len(w.raw); n > 0 && w.raw[n-1] != '\n' {
		w.raw = append(w.raw, '\n')
		w.lines++
	}
}

// take adds b to the output waiting for redaction, and cuts it into chunks
// once there is a chunk's worth.
func (w *LogWriter) take(b []byte) {
	if w.closed {
		w.late(len(b))
		return
	}
	w.start()
	from := max(len(w.raw)-1, 0)
	w.raw = append(w.raw, b...)
	w.raw = joinCRLF(w.raw, from)
	w.lines += int64(bytes.Count(b, []byte{'\n'}))
	if len(w.raw) >= w.cfg.ChunkBytes {
		w.cut(true)
		w.poke()
	}
}

// joinCRLF turns each "\r\n" in b[from:] into "\n".
func joinCRLF(b []byte, from int) []byte {
	if !bytes.Contains(b[from:], []byte("\r\n")) {
		return b
	}
	out := b[:from]
	rest := b[from:]
	for {
		i := bytes.Index(rest, []byte("\r\n"))
		if i < 0 {
			return append(out, rest...)
		}
		out = append(out, rest[:i]...)
		rest = rest[i+1:]
	}
}

// late counts output written after Close: it cannot be kept.
func (w *LogWriter) late(n int) {
	w.q.dropped += int64(n)
	w.log.dropped.Add(int64(n))
	w.log.logger.Warn("job output written after its log was closed is not kept", "job", w.id, "bytes", n)
}

// cut redacts what can go and queues it. Whole lines go, except (with hold)
// trailing lines that may be part of a wrapped encoded secret. If what
// stays would be a chunk or more (a very long line), it goes too, but for
// the last Overlap bytes.
func (w *LogWriter) cut(hold bool) {
	if w.q.capped {
		w.raw = w.raw[:0] // past the cap: counted as lines, not kept
		return
	}
	e := bytes.LastIndexByte(w.raw, '\n') + 1
	if hold {
		e = w.holdBack(e)
	}
	if len(w.raw)-e >= w.cfg.ChunkBytes {
		out, n := w.log.redact.Prefix(w.raw)
		w.emit(out)
		w.consume(n)
		return
	}
	if e > 0 {
		w.emit(w.log.redact.Bytes(w.raw[:e]))
		w.consume(e)
	}
}

func (w *LogWriter) consume(n int) {
	w.raw = w.raw[:copy(w.raw, w.raw[n:])]
}

// holdBack returns where the output that may go now ends, given that whole
// lines end at e: before the trailing lines that look like wrapped base64
// or hex, up to the redactor's value overlap of them, when the last of them
// is long enough to be such a wrap.
func (w *LogWriter) holdBack(e int) int {
	need := w.log.redact.valueOverlap()
	if need == 0 || e == 0 {
		return e
	}
	h, seen := e, 0
	for h > 0 && seen < need {
		start := bytes.LastIndexByte(w.raw[:h-1], '\n') + 1
		line := w.raw[start : h-1]
		if !encodedLooking(line) || (h == e && len(line) < minWrapped) {
			break
		}
		seen += len(line)
		h = start
	}
	return h
}

// minWrapped is the shortest last line that may be a wrapped encoding.
const minWrapped = 16

// encodedLooking reports whether line is non-empty and made only of base64
// (standard or URL-safe) and hex characters.
func encodedLooking(line []byte) bool {
	if len(line) == 0 {
		return false
	}
	for _, c := range line {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '+', c == '/', c == '=', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// emit queues redacted text in pieces of at most a chunk, cut after a
// newline where there is one. Cutting redacted text is safe anywhere.
func (w *LogWriter) emit(text []byte) {
	for len(text) > 0 {
		n := len(text)
		if n > w.cfg.ChunkBytes {
			n = w.cfg.ChunkBytes
			if i := bytes.LastIndexByte(text[:n], '\n'); i >= 0 {
				n = i + 1
			}
		}
		w.enqueue(bytes.Clone(text[:n]))
		text = text[n:]
	}
}

// waitRoom waits while Redis is taking appends and a quarter of the buffer
// is in use, at most until the sender has made no progress for StallWait:
// a step faster than Redis is slowed down, and the rest of the buffer is
// kept for when Redis is away. An absent Redis (appends failing, or
// stalled) is never waited for: the buffer fills, then drops its oldest
// output instead of backing up the step.
func (w *LogWriter) waitRoom() {
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		w.mu.Lock()
		now := time.Now()
		full := w.q.queued+w.cfg.ChunkBytes > max(w.cfg.BufferBytes/4, 2*w.cfg.ChunkBytes) &&
			!w.closed && !w.q.capped && !w.stalled(now)
		until := w.q.since.Add(w.cfg.StallWait).Sub(now)
		progress := w.q.progress
		w.mu.Unlock()
		if !full {
			return
		}
		if t == nil {
			t = time.NewTimer(until)
		} else {
			t.Reset(until)
		}
		select {
		case <-progress:
		case <-t.C:
		case <-w.sendDone:
			return
		}
	}
}

// waitSent waits until the items queued up to seq target are stored, at
// most CloseWait.
func (w *LogWriter) waitSent(target int64) error {
	t := time.NewTimer(w.cfg.CloseWait)
	defer t.Stop()
	for {
		w.mu.Lock()
		done := w.q.capped || len(w.q.items) == 0 || w.q.items[0].seq > target
		progress, lastErr := w.q.progress, w.q.lastErr
		w.mu.Unlock()
		if done {
			return nil
		}
		if lastErr == nil {
			lastErr = errNotStored
		}
		select {
		case <-progress:
		case <-t.C:
			return fmt.Errorf("log of job #%d: output not stored within %s: %w", w.id, w.cfg.CloseWait, lastErr)
		case <-w.sendDone:
			return fmt.Errorf("log of job #%d: output not stored: the writer stopped: %w", w.id, lastErr)
		}
	}
}

// report sums up, once the sender has stopped, what was not kept.
func (w *LogWriter) report() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var unsent int64
	for _, it := range w.q.items {
		if it.gap == 0 {
			unsent += int64(len(it.data)) // output, or a repair of it
		}
	}
	w.q.items = nil
	if unsent > 0 {
		w.q.dropped += unsent
		w.log.dropped.Add(unsent)
	}
	if w.q.dropped == 0 {
		return nil
	}
	why := w.q.lastErr
	if why == nil {
		why = errNotStored
	}
	return fmt.Errorf("log of job #%d: %d bytes of output not kept (%d still unsent when Close stopped waiting): %w",
		w.id, w.q.dropped, unsent, why)
}
