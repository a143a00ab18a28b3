package main

import (
	"fmt"
	"strings"
	"testing"
)

// lines renders "line i pid" for i in from..to.
func lines(pid string, from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		fmt.Fprintf(&b, "line %d %s\n", i, pid)
	}
	return b.String()
}

func TestMeasureJobCountsWhatTheLogLost(t *testing.T) {
	marker := stepMarker + "numbered lines\n"
	cases := []struct {
		name      string
		log, runs string
		n         int // lines each run prints
		want      tally
	}{
		{
			name: "one run, every line once",
			n:    5,
			log:  marker + lines("7", 1, 5) + "── step 1/1 succeeded in 1s: numbered lines\n",
			runs: "start 7 1.0\nend 7 2.0\n",
			want: tally{},
		},
		{
			// A killed run owes only the lines up to its last stored one.
			name: "a killed run, then a whole one",
			n:    5,
			log:  marker + lines("7", 1, 3) + marker + lines("8", 1, 5),
			runs: "start 7 1.0\nstart 8 5.0\nend 8 6.0\n",
			want: tally{reruns: 1},
		},
		{
			name: "lost, twice and out of order",
			n:    5,
			log:  marker + "line 1 7\nline 3 7\nline 2 7\nline 3 7\nline 5 7\n",
			runs: "start 7 1.0\nend 7 2.0\n",
			want: tally{linesLost: 1, linesTwice: 1, outOfOrder: 1},
		},
		{
			name: "a stopped run's tail stored after the next run's marker",
			n:    3,
			log:  marker + lines("7", 1, 2) + marker + "line 3 7\n" + lines("8", 1, 3),
			runs: "start 7 1.0\nstart 8 5.0\nend 8 6.0\n",
			want: tally{reruns: 1, interleaved: 1},
		},
		{
			name: "two runs at once",
			n:    2,
			log:  marker + lines("7", 1, 2) + marker + lines("8", 1, 2),
			runs: "start 7 1.0\nstart 8 1.5\nend 7 2.0\nend 8 3.0\noverlap 9 1.7\n",
			want: tally{reruns: 1, together: 2},
		},
		{
			name: "a gap in a killed run is a loss",
			n:    3,
			log:  marker + "line 1 7\nline 3 7\n" + marker + lines("8", 1, 3),
			runs: "start 7 1.0\nstart 8 5.0\nend 8 6.0\n",
			want: tally{reruns: 1, linesLost: 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := measureJob(c.log, c.runs, c.n)
			got.notes = nil
			if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", c.want) {
				t.Errorf("measureJob =\n%+v\nwant\n%+v", got, c.want)
			}
		})
	}
}
