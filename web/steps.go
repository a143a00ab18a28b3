package web

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

var (
	stepStart = regexp.MustCompile(`^── step (\d+)/\d+: (.*)$`)
	stepEnd   = regexp.MustCompile(`^── step (\d+)/\d+ (succeeded|failed with exit code \d+) in (\S+): `)
	// stepPrefix is how every marker line starts: other lines are passed
	// over without a regular expression.
	stepPrefix = []byte("── step ")
)

const (
	// maxIndexedJobs is how many jobs' step markers are remembered.
	maxIndexedJobs = 256
	// maxMarkerLine is the longest line read as a possible step marker
	// across two reads; longer ones are output, not markers.
	maxMarkerLine = 4 << 10
)

// stepIndex remembers what the step markers the runners write into a log
// said, up to where it has read, so that a page reads only what was added
// since the last look at the same job, a range at a time, and readers of
// one job wait for one scan rather than each reading the whole log.
type stepIndex struct {
	mu   sync.Mutex
	jobs map[int64]*stepScan
}

// stepScan is one job's markers so far.
type stepScan struct {
	mu    sync.Mutex
	used  time.Time
	off   int64  // bytes of the log read
	carry []byte // the start of a line the last read cut
	skip  bool   // the line being read is too long to be a marker
	marks map[int]stepMark
}

type stepMark struct {
	result, took string
}

type stepRow struct {
	N        int
	Name     string
	Result   string
	Duration string
}

func (x *stepIndex) scan(id int64) *stepScan {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.jobs == nil {
		x.jobs = map[int64]*stepScan{}
	}
	sc := x.jobs[id]
	if sc == nil {
		if len(x.jobs) >= maxIndexedJobs {
			x.evictOldest()
		}
		sc = &stepScan{marks: map[int]stepMark{}}
		x.jobs[id] = sc
	}
	sc.used = time.Now()
	return sc
}

// evictOldest forgets the job looked at least recently. x.mu is held.
func (x *stepIndex) evictOldest() {
	var oldest int64
	var when time.Time
	for id, sc := range x.jobs {
		if when.IsZero() || sc.used.Before(when) {
			oldest, when = id, sc.used
		}
	}
	delete(x.jobs, oldest)
}

// rows is the steps table of job j: each step of its plan with what the
// log says of it.
func (s *Server) stepRows(ctx context.Context, j *jobs.Job) ([]stepRow, error) {
	sc := s.steps.scan(j.ID)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if err := sc.catchUp(ctx, s.d.Log, j.ID); err != nil {
		return nil, err
	}
	rows := make([]stepRow, len(j.Plan.Steps))
	for i, st := range j.Plan.Steps {
		rows[i] = stepRow{N: i + 1, Name: st.Name, Result: "not run"}
		if m, ok := sc.marks[i+1]; ok {
			rows[i].Result, rows[i].Duration = m.result, m.took
		}
		if j.State.Final() && rows[i].Result == "running" {
			rows[i].Result = string(j.State)
		}
	}
	return rows, nil
}

// catchUp reads what the log gained since the last scan.
func (sc *stepScan) catchUp(ctx context.Context, log *jobs.Log, id int64) error {
	size, err := log.Size(ctx, id)
	if err != nil {
		return err
	}
	if size < sc.off {
		// The log is not the one scanned (it expired and was written
		// anew): start over.
		*sc = stepScan{used: sc.used, marks: map[int]stepMark{}}
	}
	for sc.off < size {
		b, err := log.ReadAt(ctx, id, sc.off, min(logRange, size-sc.off))
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		sc.off += int64(len(b))
		sc.feed(b)
	}
	return nil
}

// feed reads the lines of b, the next bytes of the log.
func (sc *stepScan) feed(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			sc.hold(b)
			return
		}
		line := b[:i]
		if len(sc.carry) > 0 {
			line = append(sc.carry, line...)
		}
		if !sc.skip {
			sc.line(line)
		}
		sc.carry, sc.skip = sc.carry[:0], false
		b = b[i+1:]
	}
}

// hold keeps the start of a line the read cut, unless it is too long to
// be a marker.
func (sc *stepScan) hold(b []byte) {
	if sc.skip || len(sc.carry)+len(b) > maxMarkerLine {
		sc.carry, sc.skip = sc.carry[:0], true
		return
	}
	sc.carry = append(sc.carry, b...)
}

func (sc *stepScan) line(ln []byte) {
	if !bytes.HasPrefix(ln, stepPrefix) {
		return
	}
	s := string(ln)
	if m := stepStart.FindStringSubmatch(s); m != nil {
		if n, _ := strconv.Atoi(m[1]); n >= 1 {
			mk := sc.marks[n]
			mk.result = "running"
			sc.marks[n] = mk
		}
	} else if m := stepEnd.FindStringSubmatch(s); m != nil {
		if n, _ := strconv.Atoi(m[1]); n >= 1 {
			sc.marks[n] = stepMark{result: m[2], took: m[3]}
		}
	}
}
