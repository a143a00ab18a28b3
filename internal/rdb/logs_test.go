package rdb_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/rdb"
)

// appendScript: every status of an append at an expected offset, the cap,
// and the dates of the output.
func TestAppend(t *testing.T) {
	f := newFixture(t)
	l := rdb.NewLogs(f.c, f.k)
	const mark = "[capped]\n"
	app := func(chunk string, off int64, at time.Time) rdb.Appended {
		t.Helper()
		res, err := l.Append(ctx, 1, rdb.Append{Chunk: []byte(chunk), Offset: off, Cap: 40, Marker: mark, Keep: time.Hour, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	t0 := time.UnixMilli(10_000)
	steps := []struct {
		chunk string
		off   int64
		at    time.Time
		want  rdb.Appended
	}{
		{"one\n", 0, t0, rdb.Appended{Status: rdb.AppendOK, Size: 4}},
		{"one\n", 0, t0, rdb.Appended{Status: rdb.AppendOK, Size: 4}},       // sent again: landed already
		{"two\n", 10, t0, rdb.Appended{Status: rdb.AppendShort, Size: 4}},   // the log lost a tail
		{"xyz\n", 0, t0, rdb.Appended{Status: rdb.AppendConflict, Size: 4}}, // other bytes there
		{"two\n", 4, t0.Add(500 * time.Millisecond), rdb.Appended{Status: rdb.AppendOK, Size: 8}},
		{"two\nthree\n", 4, t0.Add(2 * time.Second), rdb.Appended{Status: rdb.AppendOK, Size: 14}}, // half landed
		{strings.Repeat("z", 30), 14, time.Time{}, rdb.Appended{Status: rdb.AppendCapped, Size: 14 + 9}},
		{"four\n", 23, t0, rdb.Appended{Status: rdb.AppendCapped, Size: 23}},
	}
	for i, s := range steps {
		if got := app(s.chunk, s.off, s.at); got != s.want {
			t.Fatalf("step %d (%q at %d): %+v, want %+v", i, s.chunk, s.off, got, s.want)
		}
	}
	all, err := l.All(ctx, 1)
	if err != nil || string(all) != "one\ntwo\nthree\n"+mark {
		t.Fatalf("log %q, %v", all, err)
	}
	if b, err := l.ReadAt(ctx, 1, 4, 4); err != nil || string(b) != "two\n" {
		t.Fatalf("read at 4: %q, %v", b, err)
	}
	if n, err := l.Size(ctx, 1); err != nil || n != 23 {
		t.Fatalf("size %d, %v", n, err)
	}
	// One date a second at most: the append half a second later added none.
	times, err := l.Times(ctx, 1)
	if err != nil || len(times) != 2 || times[0] != "0 10000" || times[1] != "4 12000" {
		t.Fatalf("times %q, %v", times, err)
	}
	for _, k := range []string{f.k.Log(1), f.k.LogTimes(1)} {
		if ttl := f.raw.PTTL(ctx, k).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("%s TTL %v", k, ttl)
		}
	}
	if b, err := l.All(ctx, 2); err != nil || b != nil {
		t.Fatalf("log of no job: %q, %v", b, err)
	}
}
