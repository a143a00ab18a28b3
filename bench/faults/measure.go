package main

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// What a job's step leaves to count. Each run of the step appends
// "start PID TIME" and, if it gets to the end, "end PID TIME" to the job's
// runs file, holding an exclusive flock on the job's lock file the whole
// time; a run that finds the lock taken writes "overlap PID TIME" and
// fails. Each numbered line it prints is "line I PID", so the stored log
// says which run printed what.

// tally is what the runs of one fault kind came to.
type tally struct {
	runs, jobs int

	// Must be 0.
	lost       int // jobs that never reached a final state
	linesLost  int // numbered lines missing from the stored log
	linesTwice int // numbered lines stored more than once
	together   int // jobs run twice at the same time

	// What happened.
	notSucceeded int // jobs that ended other than succeeded
	outOfOrder   int // numbered lines stored before one printed earlier by the same run
	strange      int // stored lines that are neither numbered lines nor gantry's own
	reruns       int // runs of a step beyond the first (a killed or fenced run is run again)
	interleaved  int // lines of a stopped run stored after the next run's step marker
	notes        []string
}

func (t *tally) add(o tally) {
	t.runs += o.runs
	t.jobs += o.jobs
	t.lost += o.lost
	t.linesLost += o.linesLost
	t.linesTwice += o.linesTwice
	t.together += o.together
	t.notSucceeded += o.notSucceeded
	t.outOfOrder += o.outOfOrder
	t.strange += o.strange
	t.reruns += o.reruns
	t.interleaved += o.interleaved
	t.notes = append(t.notes, o.notes...)
}

// zero reports whether every must-be-0 count is 0.
func (t *tally) zero() bool {
	return t.lost+t.linesLost+t.linesTwice+t.together+t.notSucceeded+t.outOfOrder+t.strange == 0
}

// stepRun is one run of a job's step, from its runs file.
type stepRun struct {
	pid        string
	start, end float64 // seconds since the epoch; end 0 if it never got there
}

// readRuns parses a runs file: the runs in the order they began, and how
// many found the job already running.
func readRuns(text string) (runs []stepRun, overlaps int) {
	at := map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		t, _ := strconv.ParseFloat(f[2], 64)
		switch f[0] {
		case "start":
			at[f[1]] = len(runs)
			runs = append(runs, stepRun{pid: f[1], start: t})
		case "end":
			if i, ok := at[f[1]]; ok {
				runs[i].end = t
			}
		case "overlap":
			overlaps++
		}
	}
	return runs, overlaps
}

// concurrent counts pairs of runs that were alive at the same time, as far
// as their start and end times tell (a killed run has no end: the flock is
// what catches those).
func concurrent(runs []stepRun) int {
	n := 0
	for i := range runs {
		for k := i + 1; k < len(runs); k++ {
			a, b := runs[i], runs[k]
			if a.end != 0 && b.end != 0 && a.start < b.end && b.start < a.end {
				n++
			}
		}
	}
	return n
}

// printed is what the stored log holds of one run's numbered lines.
type printed struct {
	order []int // line numbers in the order stored
}

// stepMarker begins the output of each run of the job's one step.
const stepMarker = "── step 1/1: "

// measureJob counts what the stored log of a job whose step prints n
// numbered lines lost, repeated or misplaced, given the runs file.
func measureJob(log, runsFile string, n int) tally {
	runs, overlaps := readRuns(runsFile)
	t := tally{together: overlaps + concurrent(runs), reruns: max(len(runs)-1, 0)}
	nth := map[string]int{} // a run's place among the runs, from 1
	for i, r := range runs {
		nth[r.pid] = i + 1
	}
	byRun := map[string]*printed{}
	markers := 0
	for _, ln := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if strings.HasPrefix(ln, stepMarker) {
			markers++
		}
		if ln == "" || strings.HasPrefix(ln, "── ") {
			continue
		}
		f := strings.Fields(ln)
		k, err := strconv.Atoi(fieldOr(f, 1))
		if len(f) != 3 || f[0] != "line" || err != nil || k < 1 || k > n {
			t.strange++
			t.notes = append(t.notes, fmt.Sprintf("stored line %q", ln))
			continue
		}
		// Run i's lines belong after the i-th step marker; one stored
		// after a later run's marker came from a stopped run's writer
		// that was still sending when the next run began.
		if i := nth[f[2]]; i > 0 && markers > i {
			t.interleaved++
		}
		p := byRun[f[2]]
		if p == nil {
			p = &printed{}
			byRun[f[2]] = p
		}
		p.order = append(p.order, k)
	}
	for _, r := range runs {
		p := byRun[r.pid]
		if p == nil {
			p = &printed{}
		}
		lost, twice, misplaced := p.count(n, r.end != 0)
		t.linesLost += lost
		t.linesTwice += twice
		t.outOfOrder += misplaced
		delete(byRun, r.pid)
	}
	for pid := range byRun {
		t.strange++
		t.notes = append(t.notes, fmt.Sprintf("lines of a run %s that the runs file does not know", pid))
	}
	return t
}

// count returns how many of lines 1..n the run lost, stored twice, or
// stored out of order. A run that did not end (its worker was killed, or
// it was fenced) is owed only the lines up to the last one stored: the
// rest it never printed, or printed into a worker that died with them.
func (p *printed) count(n int, ended bool) (lost, twice, misplaced int) {
	seen := map[int]bool{}
	highest, prev := 0, 0
	for _, k := range p.order {
		if seen[k] {
			twice++
			continue
		}
		seen[k] = true
		if k < prev {
			misplaced++
		}
		prev, highest = k, max(highest, k)
	}
	owed := n
	if !ended {
		owed = highest
	}
	for k := 1; k <= owed; k++ {
		if !seen[k] {
			lost++
		}
	}
	return lost, twice, misplaced
}

func fieldOr(f []string, i int) string {
	if i < len(f) {
		return f[i]
	}
	return ""
}
