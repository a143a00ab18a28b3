package web

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

var (
	stepStart = regexp.MustCompile(`^── step (\d+)/(\d+): (.*)$`)
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
	// maxSteps bounds the step sections one log is cut into: a build
	// that prints marker-like lines by the million gets no more (the
	// rest are output of the last section).
	maxSteps = 500
	// checkpointEvery is the spacing of the offsets at which the index
	// notes how many lines came before: to number the lines from any
	// offset, a page reads at most this much more of the log.
	checkpointEvery = 64 << 10
)

// stepIndex remembers what the step markers the runners write into a log
// said, and where lines start, up to where it has read, so that a page
// reads only what was added since the last look at the same job, a range
// at a time, and readers of one job wait for one scan rather than each
// reading the whole log.
type stepIndex struct {
	mu   sync.Mutex
	jobs map[int64]*stepScan
}

// stepScan is one job's markers so far.
type stepScan struct {
	mu     sync.Mutex
	used   time.Time
	off    int64  // bytes of the log read
	carry  []byte // the start of a line the last read cut
	skip   bool   // the line being read is too long to be a marker
	lineAt int64  // where the line being read starts
	breaks int64  // line breaks read
	// checkpoints[m] is the number of line breaks before offset
	// m*checkpointEvery.
	checkpoints []int64
	steps       []stepRun
}

// stepRun is one run of a step, from its start marker to its end marker.
// A job tried again runs its steps again in the same log.
type stepRun struct {
	n, of        int    // step n of of
	name         string // as the marker says
	start        int64  // offset of the start marker line
	end          int64  // offset after the end marker line; -1 while it runs
	result, took string // from the end marker
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
		sc = &stepScan{}
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

// logView is what the index knows of one job's log at one moment: a copy
// a page draws from without holding the index.
type logView struct {
	job         *jobs.Job
	size        int64 // bytes indexed: the page reads no further
	breaks      int64 // line breaks in them
	checkpoints []int64
	steps       []stepRun
	times       []jobs.LogTime // when the log's bytes were taken: each line's time
}

// view catches job j's index up with its log and returns what it knows.
func (s *Server) view(ctx context.Context, j *jobs.Job) (*logView, error) {
	sc := s.steps.scan(j.ID)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if err := sc.catchUp(ctx, s.d.Log, j.ID); err != nil {
		return nil, err
	}
	times, err := s.d.Log.Times(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	// checkpoints only grows at its end, so the view may share it.
	return &logView{job: j, size: sc.off, breaks: sc.breaks, checkpoints: sc.checkpoints[:len(sc.checkpoints):len(sc.checkpoints)],
		steps: append([]stepRun(nil), sc.steps...), times: times}, nil
}

// rows is the steps table: each step of the job's plan with what its
// latest run says.
func (v *logView) rows() []stepRow {
	j := v.job
	rows := make([]stepRow, len(j.Plan.Steps))
	for i, st := range j.Plan.Steps {
		rows[i] = stepRow{N: i + 1, Name: st.Name, Result: "not run"}
	}
	for k, r := range v.steps {
		if r.n >= 1 && r.n <= len(rows) {
			rows[r.n-1].Result, rows[r.n-1].Duration = v.result(k), r.took
		}
	}
	return rows
}

// result is what run k of a step came to: its end marker's word, or
// "running" for the job's last run while the job runs, or the job's state
// once it ended without the step's end (cancelled, errored).
func (v *logView) result(k int) string {
	r := v.steps[k]
	switch {
	case r.end >= 0:
		return r.result
	case !v.job.State.Final() && k == len(v.steps)-1:
		return "running"
	case k == len(v.steps)-1:
		return string(v.job.State)
	}
	return "interrupted" // a later run followed without this one's end
}

// lineAt is the number (1-based) of the line that starts at offset off
// of the log, a line start at or before the end of the view. It reads the
// log from the checkpoint before off.
func (v *logView) lineAt(ctx context.Context, log *jobs.Log, id, off int64) (int64, error) {
	if off >= v.size {
		return v.breaks + 1, nil
	}
	m := off / checkpointEvery
	if m >= int64(len(v.checkpoints)) {
		return 0, fmt.Errorf("offset %d of the log of job #%d is not indexed", off, id)
	}
	from := m * checkpointEvery
	b, err := log.ReadAt(ctx, id, from, off-from)
	if err != nil {
		return 0, err
	}
	return v.checkpoints[m] + int64(bytes.Count(b, []byte("\n"))) + 1, nil
}

// segmentAt says which part of the log the line at offset off is in: in
// run k of a step (inStep), after the end of run k, or before any step
// (k = -1).
func (v *logView) segmentAt(off int64) (k int, inStep bool) {
	k = sort.Search(len(v.steps), func(i int) bool { return v.steps[i].start > off }) - 1
	if k < 0 {
		return -1, false
	}
	r := v.steps[k]
	return k, r.end < 0 || off < r.end
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
		*sc = stepScan{used: sc.used}
	}
	for sc.off < size {
		b, err := log.ReadAt(ctx, id, sc.off, min(logRange, size-sc.off))
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return nil
		}
		sc.feed(b)
	}
	return nil
}

// feed reads b, the next bytes of the log, noting a checkpoint at every
// multiple of checkpointEvery it passes.
func (sc *stepScan) feed(b []byte) {
	for len(b) > 0 {
		if sc.off%checkpointEvery == 0 && int64(len(sc.checkpoints)) == sc.off/checkpointEvery {
			sc.checkpoints = append(sc.checkpoints, sc.breaks)
		}
		n := min(int64(len(b)), checkpointEvery-sc.off%checkpointEvery)
		sc.lines(b[:n])
		b = b[n:]
	}
}

// lines reads the lines of b, which starts at sc.off.
func (sc *stepScan) lines(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			sc.hold(b)
			sc.off += int64(len(b))
			return
		}
		line := b[:i]
		if len(sc.carry) > 0 {
			line = append(sc.carry, line...)
		}
		sc.off += int64(i + 1)
		if !sc.skip {
			sc.line(line)
		}
		sc.breaks++
		sc.lineAt = sc.off
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

// line reads one whole line, which starts at sc.lineAt and ends (its line
// break included) at sc.off.
func (sc *stepScan) line(ln []byte) {
	if !bytes.HasPrefix(ln, stepPrefix) {
		return
	}
	s := string(ln)
	if m := stepStart.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		of, _ := strconv.Atoi(m[2])
		if n >= 1 && len(sc.steps) < maxSteps {
			sc.steps = append(sc.steps, stepRun{n: n, of: of, name: m[3], start: sc.lineAt, end: -1})
		}
	} else if m := stepEnd.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		if k := len(sc.steps) - 1; k >= 0 && sc.steps[k].n == n && sc.steps[k].end < 0 {
			r := &sc.steps[k]
			r.end, r.result, r.took = sc.off, m[2], m[3]
		}
	}
}
