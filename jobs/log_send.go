package jobs

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// outbox is a writer's redacted output on its way to Redis. Its fields are
// guarded by LogWriter.mu.
type outbox struct {
	items    []outItem
	queued   int   // bytes of output in items
	seq      int64 // number of the last item queued
	failing  bool  // the last append failed
	lastErr  error
	since    time.Time     // when the sender last made progress or took up new work
	progress chan struct{} // closed and renewed when an item is done, an append fails, or the sender stops
	dropped  int64         // bytes of output not kept
	capped   bool          // the log reached MaxBytes
}

// outItem is a chunk of output to append, a note that gap bytes of output
// were dropped in its place, or a repair (see sender.repair). The item at
// the head may be being sent: it is never dropped or changed, and a note
// is written out when it reaches the head.
type outItem struct {
	data   []byte
	gap    int64
	repair bool
	seq    int64
	at     time.Time // when the output was taken; zero for notes and repairs
}

// output reports whether the item is a chunk of output, counted in queued.
func (it outItem) output() bool { return it.gap == 0 && !it.repair }

// appendTimeout bounds one append attempt.
const appendTimeout = 5 * time.Second

// enqueue adds a chunk. If that overflows the buffer while Redis is away,
// the oldest output not being sent is dropped for a note. While Redis is
// taking appends the buffer may go over by the little that writers let in
// before waitRoom held them back: output is only dropped for an absent
// Redis, never for a slow one.
func (w *LogWriter) enqueue(data []byte) {
	w.q.seq++
	w.q.items = append(w.q.items, outItem{data: data, seq: w.q.seq, at: w.cfg.Now()})
	w.q.queued += len(data)
	if !w.stalled(time.Now()) {
		return
	}
	for w.q.queued > w.cfg.BufferBytes {
		if !w.shed() {
			break
		}
	}
}

// stalled reports whether Redis looks away: appends fail, or the sender
// has made no progress for StallWait.
func (w *LogWriter) stalled(now time.Time) bool {
	return w.q.failing || now.Sub(w.q.since) >= w.cfg.StallWait
}

// shed drops the oldest chunk of output after the head into the note of
// dropped output just before it, making one if there is none. It reports
// false when there is nothing left to drop.
func (w *LogWriter) shed() bool {
	items := w.q.items
	v := 1
	for v < len(items) && !items[v].output() {
		v++
	}
	if v >= len(items) {
		return false
	}
	n := int64(len(items[v].data))
	w.q.queued -= len(items[v].data)
	w.q.dropped += n
	w.log.dropped.Add(n)
	if v >= 2 && items[v-1].gap > 0 && items[v-1].data == nil {
		items[v-1].gap += n
		w.q.items = append(items[:v], items[v+1:]...)
		return true
	}
	w.logger.Warn("job log buffer is full while Redis is unreachable; dropping the oldest unsent output",
		"buffer_bytes", w.cfg.BufferBytes, "err", w.q.lastErr)
	items[v] = outItem{gap: n, seq: items[v].seq}
	return true
}

// notify wakes whoever waits for progress.
func (w *LogWriter) notify() {
	close(w.q.progress)
	w.q.progress = make(chan struct{})
}

// sender is the goroutine that appends a writer's chunks, one at a time and
// in order. Its fields are its own.
type sender struct {
	w        *LogWriter
	off      int64  // where the next append lands in the log
	kept     []byte // the last bytes stored, ending at off
	keptAt   int64  // offset of kept[0]
	last     byte   // the last byte stored
	failures int
}

func (w *LogWriter) send() {
	defer func() {
		w.mu.Lock()
		w.notify()
		w.mu.Unlock()
		close(w.sendDone)
	}()
	s := &sender{w: w}
	if !s.learnOffset() {
		return
	}
	for {
		data, at, ok := s.next()
		if !ok {
			return
		}
		if !s.deliver(data, at) {
			return
		}
	}
}

// learnOffset reads where the log ends now (a job that starts again after
// its worker stopped adds to the log it has), retrying until Redis answers
// or Close stops waiting.
func (s *sender) learnOffset() bool {
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(s.w.ctx, appendTimeout)
		n, err := s.w.log.Size(ctx, s.w.id)
		cancel()
		if err == nil {
			s.off, s.keptAt = n, n
			s.recovered()
			return true
		}
		if !s.failed(err, attempt) {
			return false
		}
	}
}

// next waits for the head item and returns its bytes and when they were
// taken, writing out a note of dropped output when it reaches the head. It
// reports false when the writer is closed and everything is sent, or Close
// stopped waiting.
func (s *sender) next() ([]byte, time.Time, bool) {
	w := s.w
	for {
		w.mu.Lock()
		if len(w.q.items) > 0 {
			it := &w.q.items[0]
			if it.data == nil {
				it.data = s.gapNote(it.gap)
			}
			data, at := it.data, it.at
			w.mu.Unlock()
			return data, at, true
		}
		closed := w.closed
		w.mu.Unlock()
		if closed {
			return nil, time.Time{}, false
		}
		select {
		case <-w.wake:
		case <-w.quit:
			return nil, time.Time{}, false
		}
		w.mu.Lock()
		w.q.since = time.Now() // idle until now, not stuck
		w.mu.Unlock()
	}
}

// deliver appends the head item until Redis takes it. It reports false
// when Close stopped waiting.
func (s *sender) deliver(data []byte, at time.Time) bool {
	w := s.w
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(w.ctx, appendTimeout)
		res, err := w.log.appendAt(ctx, w.id, data, s.off, at)
		cancel()
		if err != nil {
			if !s.failed(err, attempt) {
				return false
			}
			continue
		}
		s.recovered()
		switch res.status {
		case rdb.AppendOK:
			s.stored(data, res.size)
			return true
		case rdb.AppendCapped:
			s.capped()
			return true
		case rdb.AppendShort:
			s.repair(res.size)
			return true
		default: // rdb.AppendConflict
			w.logger.Warn("job log has bytes this writer did not write; appending after them",
				"expected_offset", s.off, "size", res.size)
			s.off, s.kept, s.keptAt = res.size, nil, res.size
		}
	}
}

// stored records that data now ends at offset end, and drops the head.
func (s *sender) stored(data []byte, end int64) {
	w := s.w
	if s.keptAt+int64(len(s.kept)) != end-int64(len(data)) {
		s.kept, s.keptAt = nil, end-int64(len(data))
	}
	if keep := w.cfg.RetainBytes; keep > 0 {
		s.kept = append(s.kept, data...)
		if len(s.kept) > 2*keep {
			cut := len(s.kept) - keep
			s.kept = bytes.Clone(s.kept[cut:])
			s.keptAt += int64(cut)
		}
	} else {
		s.keptAt = end
	}
	s.off = end
	s.last = data[len(data)-1]
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.q.items) > 0 {
		if w.q.items[0].output() {
			w.q.queued -= len(w.q.items[0].data)
		}
		w.q.items = w.q.items[1:]
	}
	w.notify()
}

// capped stops keeping output: the log reached MaxBytes.
func (s *sender) capped() {
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	w.q.capped = true
	w.q.items, w.q.queued = nil, 0
	w.notify()
}

// repair puts back the tail of the log that a failover lost (the log is
// now size bytes, shorter than the writer knows it wrote), from the copy
// the writer kept, so the log and the offsets followers hold stay as they
// were. What the writer no longer has is replaced by a line that says how
// many bytes were lost, and from where.
func (s *sender) repair(size int64) {
	w := s.w
	end := s.keptAt + int64(len(s.kept))
	var payload []byte
	var lost int64
	if size >= s.keptAt {
		payload = bytes.Clone(s.kept[size-s.keptAt:])
	} else {
		lost = s.keptAt - size
		payload = append(fmt.Appendf(nil, "[gantry: %d bytes of this log from byte %d were lost by Redis (a failover to a replica that did not have them)]\n", lost, size), s.kept...)
	}
	lost += s.off - end // nothing, unless the copy was not kept up
	w.logger.Warn("job log in Redis is shorter than what was written; putting the tail back",
		"expected_size", s.off, "size", size, "restored_bytes", len(payload), "lost_bytes", lost)
	s.off, s.kept, s.keptAt = size, nil, size
	if len(payload) == 0 && lost == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if lost > 0 {
		w.q.dropped += lost
		w.log.dropped.Add(lost)
	}
	if len(payload) > 0 {
		// Sequence 0: a Flush waiting for the head waits for this too.
		w.q.items = append([]outItem{{data: payload, repair: true}}, w.q.items...)
	}
}

// gapNote is the line that stands where n bytes of output were dropped.
func (s *sender) gapNote(n int64) []byte {
	var b []byte
	if s.last != 0 && s.last != '\n' {
		b = append(b, '\n')
	}
	return fmt.Appendf(b, "[gantry: %d bytes of output were dropped here: Redis was unreachable for longer than the log buffer (%d bytes) could hold]\n",
		n, s.w.cfg.BufferBytes)
}

// failed records a failed attempt and waits out the backoff. It reports
// false when Close stopped waiting.
func (s *sender) failed(err error, attempt int) bool {
	w := s.w
	s.failures++
	if s.failures == 1 {
		w.logger.Warn("cannot write job log to Redis; keeping output until it is back", "err", err)
	}
	w.mu.Lock()
	w.q.failing, w.q.lastErr = true, err
	w.notify() // writers waiting for room stop waiting
	w.mu.Unlock()
	t := time.NewTimer(w.cfg.Backoff(attempt))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-w.quit:
		return false
	}
}

// recovered records that Redis answered.
func (s *sender) recovered() {
	w := s.w
	if s.failures > 0 {
		w.logger.Info("writing job log to Redis again", "failed_attempts", s.failures)
		s.failures = 0
	}
	w.mu.Lock()
	w.q.failing = false
	w.q.since = time.Now()
	w.mu.Unlock()
}
