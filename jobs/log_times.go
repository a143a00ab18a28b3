package jobs

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// LogTime dates a job's log: its output from byte Offset on was taken from
// the step at Time or later. Writers add one at most once a second, so a
// line's time is known to the second.
type LogTime struct {
	Offset int64
	Time   time.Time
}

// Times returns the dates of job id's log, in the order of the log.
func (l *Log) Times(ctx context.Context, id int64) ([]LogTime, error) {
	raw, err := l.logs.Times(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("read the times of log of job #%d: %w", id, err)
	}
	out := make([]LogTime, 0, len(raw))
	for _, e := range raw {
		off, ms, ok := strings.Cut(e, " ")
		o, err1 := strconv.ParseInt(off, 10, 64)
		m, err2 := strconv.ParseInt(ms, 10, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		// A writer that started again (a job run again) may date bytes
		// before the last entry's: keep the list in log order.
		if n := len(out); n > 0 && o < out[n-1].Offset {
			continue
		}
		out = append(out, LogTime{Offset: o, Time: time.UnixMilli(m)})
	}
	return out, nil
}

// TimeAt is when the byte at offset off of a log dated by times was taken;
// zero when times says nothing of it.
func TimeAt(times []LogTime, off int64) time.Time {
	i := sort.Search(len(times), func(i int) bool { return times[i].Offset > off })
	if i == 0 {
		return time.Time{}
	}
	return times[i-1].Time
}
