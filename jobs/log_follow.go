package jobs

import (
	"bytes"
	"context"
	"time"
)

// followWindow is how much of the log a follower reads at a time. A line
// longer than this is delivered in pieces.
const followWindow = 1 << 20

// tailCheck is how many of the last delivered bytes a follower reads again
// with each poll, to notice a log that is no longer what it delivered.
const tailCheck = 64

// Follow calls fn with each new whole-line chunk of job id's log from
// offset from, polling every interval, until fn returns an error, ctx ends,
// or stop reports true after a poll found nothing new (then it delivers
// what is left, a last partial line too). It returns the offset it
// reached.
//
// It rides out Redis faults: a failed read is tried again at the next poll
// until ctx ends. A log that became shorter than the offset (a failover to
// a replica with a shorter copy) is waited out: the writer puts the lost
// tail back (see LogWriter), and the follower, which checks that the bytes
// before its offset are still the ones it delivered, carries on without
// delivering anything twice. If the log was rewritten instead, it resumes
// where the log got shorter, which is new output.
func (l *Log) Follow(ctx context.Context, id int64, from int64, interval time.Duration, stop func() bool, fn func([]byte) error) (int64, error) {
	f := &follower{log: l, id: id, off: from}
	t := time.NewTicker(interval)
	defer t.Stop()
	ending := false
	for {
		ok, err := f.catchUp(ctx, ending, fn)
		if err != nil {
			return f.off, err
		}
		if ok && ending {
			return f.off, nil
		}
		if ok && stop() {
			ending = true // a last read: lines written between the poll and the stop
			continue
		}
		select {
		case <-ctx.Done():
			return f.off, ctx.Err()
		case <-t.C:
		}
	}
}

// follower is where one Follow is in a log, and what it delivered last.
type follower struct {
	log     *Log
	id      int64
	off     int64
	tail    []byte // the last bytes delivered, ending at off
	shrunk  bool   // the log was seen shorter than off
	low     int64  // the shortest it was seen since
	failing bool
}

// catchUp delivers what there is. With all, a partial last line goes too.
// It reports false when a read failed, and returns fn's error.
func (f *follower) catchUp(ctx context.Context, all bool, fn func([]byte) error) (bool, error) {
	for {
		got, again, err := f.read(ctx)
		if err != nil {
			f.trouble(err)
			return false, nil
		}
		f.fine()
		if again {
			continue
		}
		b := deliverable(got, all)
		if len(b) == 0 {
			return true, nil
		}
		f.advance(b)
		if err := fn(b); err != nil {
			return true, err
		}
	}
}

// deliverable is the part of got to deliver: up to its last newline, or all
// of it when all is set or a line fills the window.
func deliverable(got []byte, all bool) []byte {
	if all || len(got) == followWindow {
		return got
	}
	return got[:bytes.LastIndexByte(got, '\n')+1]
}

func (f *follower) advance(b []byte) {
	f.off += int64(len(b))
	f.tail = append(f.tail, b...)
	if n := len(f.tail); n > tailCheck {
		f.tail = append(f.tail[:0], f.tail[n-tailCheck:]...)
	}
}

// read returns the log past off, after checking that the bytes before off
// are still those delivered. again means the position changed: read again.
func (f *follower) read(ctx context.Context) (got []byte, again bool, err error) {
	k := int64(len(f.tail))
	b, err := f.log.ReadAt(ctx, f.id, f.off-k, k+followWindow)
	if err != nil {
		return nil, false, err
	}
	if int64(len(b)) < k {
		return nil, false, f.shorter(ctx)
	}
	if !bytes.Equal(b[:k], f.tail) {
		return nil, f.rewritten(b[k:]), nil
	}
	if f.shrunk {
		f.log.logger.Info("job log is back to what was delivered; following on", "job", f.id, "offset", f.off)
		f.shrunk = false
	}
	return b[k:], false, nil
}

// shorter notes that the log is shorter than what was delivered, and how
// short it got.
func (f *follower) shorter(ctx context.Context) error {
	size, err := f.log.Size(ctx, f.id)
	if err != nil {
		return err
	}
	if size >= f.off {
		return nil // it grew back between the two reads: the next poll sees it
	}
	if !f.shrunk {
		f.log.logger.Warn("job log is shorter than what was delivered (a failover?); waiting for it to come back",
			"job", f.id, "offset", f.off, "size", size)
		f.shrunk, f.low = true, size
	}
	f.low = min(f.low, size)
	return nil
}

// rewritten moves past a log whose bytes before off are not those
// delivered: to where it was seen shortest, since everything after that is
// new, or else to the next line start after off, so nothing is delivered
// twice. It reports whether it moved.
func (f *follower) rewritten(past []byte) bool {
	from := f.off
	if f.shrunk {
		f.off, f.tail, f.shrunk = f.low, nil, false
	} else {
		i := bytes.IndexByte(past, '\n')
		if i < 0 {
			return false // wait for the end of the line
		}
		f.off += int64(i + 1)
		f.tail = append(f.tail[:0], past[max(0, i+1-tailCheck):i+1]...)
	}
	f.log.logger.Warn("job log was rewritten under a follower; following on from new output",
		"job", f.id, "offset", from, "resumed_at", f.off)
	return true
}

func (f *follower) trouble(err error) {
	if !f.failing {
		f.log.logger.Warn("cannot read job log; trying again", "job", f.id, "err", err)
		f.failing = true
	}
}

func (f *follower) fine() {
	if f.failing {
		f.log.logger.Info("reading job log again", "job", f.id)
		f.failing = false
	}
}
