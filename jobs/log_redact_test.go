package jobs_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/jobs"
)

const logSecret = "tok-4f1c9e2a7b3d8e6f0a5c"

// writeInPieces writes s to w in pieces of random sizes up to max.
func writeInPieces(w *jobs.LogWriter, s string, seed uint64, max int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	for len(s) > 0 {
		n := min(len(s), 1+rng.IntN(max))
		_, _ = w.Write([]byte(s[:n]))
		s = s[n:]
	}
}

func TestLogNeverStoresATokenOnA200KBLine(t *testing.T) {
	r := jobs.NewRedactor(logSecret)
	e := newLogEnv(t, jobs.LogConfig{}, r)
	chunk := 64 << 10
	filler := func(n int) string { return strings.Repeat("abcdefghij", n/10+1)[:n] }
	const before = "before\n"
	// A 200 KB line with the token at byte at of the text.
	plain := func(at int) string {
		at -= len(before)
		return filler(at) + logSecret + filler(200<<10-at-len(logSecret))
	}
	// The base64 of 150 KB of output with the token in it: a 200 KB line
	// that holds the encoded token near byte at of the text, at each of
	// the three alignments in turn.
	encoded := func(at, lead int) string {
		n := (at-len(before))*3/4 - lead
		return base64.StdEncoding.EncodeToString([]byte(filler(n) + logSecret + filler(150<<10-n)))
	}
	cases := map[string]string{}
	// Written at once, the writer cuts the line near each multiple of a
	// chunk: the token straddles such a point, or sits next to it.
	for _, at := range []int{len(before), chunk - 3, chunk - len(logSecret)/2, chunk, 2*chunk - 1, 3*chunk - 20, 200<<10 - len(logSecret)} {
		cases[fmt.Sprintf("plain at %d", at)] = plain(at)
	}
	for _, at := range []int{chunk - 16, 2*chunk - 8, 1000} {
		for lead := range 3 {
			cases[fmt.Sprintf("base64 at %d, alignment %d", at, lead)] = encoded(at, lead)
		}
	}
	writes := map[string]func(w *jobs.LogWriter, s string, seed uint64){
		"one write":     func(w *jobs.LogWriter, s string, _ uint64) { _, _ = w.Write([]byte(s)) },
		"random pieces": func(w *jobs.LogWriter, s string, seed uint64) { writeInPieces(w, s, seed, 9000) },
	}
	id := int64(0)
	for name, line := range cases {
		for how, write := range writes {
			t.Run(name+", "+how, func(t *testing.T) {
				id++
				w := e.log.Writer(context.Background(), id)
				write(w, before+line+"\nafter\n", uint64(id))
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				got := e.all(t, id)
				// Streaming must hide exactly what redacting the whole text
				// at once hides, and break no line.
				want := r.String(before + line + "\nafter\n")
				if got != want {
					t.Fatalf("stored log (%d bytes, %d lines) differs from the whole text redacted (%d bytes, %d lines)",
						len(got), strings.Count(got, "\n"), len(want), strings.Count(want, "\n"))
				}
				if !strings.Contains(got, jobs.Redacted) || strings.Contains(got, logSecret) {
					t.Fatalf("token not hidden")
				}
			})
		}
	}
}

func TestLogNeverStoresATokenSplitAcrossTwoWrites(t *testing.T) {
	between := map[string]func(w *jobs.LogWriter){
		"nothing":          func(*jobs.LogWriter) {},
		"a forced flush":   func(w *jobs.LogWriter) { _ = w.Flush() },
		"timed flushes":    func(*jobs.LogWriter) { time.Sleep(50 * time.Millisecond) },
		"a flush and time": func(w *jobs.LogWriter) { _ = w.Flush(); time.Sleep(50 * time.Millisecond) },
	}
	e := newLogEnv(t, jobs.LogConfig{}, jobs.NewRedactor(logSecret))
	id := int64(100)
	for name, pause := range between {
		for _, split := range []int{1, len(logSecret) / 2, len(logSecret) - 1} {
			id++
			t.Run(fmt.Sprintf("%s, split at %d", name, split), func(t *testing.T) {
				w := e.log.Writer(context.Background(), id)
				fmt.Fprint(w, "export TOKEN="+logSecret[:split])
				pause(w)
				fmt.Fprint(w, logSecret[split:]+" done\n")
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if got := e.all(t, id); got != "export TOKEN=[redacted] done\n" {
					t.Errorf("log = %q", got)
				}
			})
		}
	}
}

func TestLogNeverStoresABase64TokenWrappedOverLinesWrittenApart(t *testing.T) {
	r := jobs.NewRedactor(logSecret)
	e := newLogEnv(t, jobs.LogConfig{}, r)
	env := "HOME=/root\x00GANTRY_TOKEN=" + logSecret + "\x00PATH=/bin\x00"
	for lead := range 3 {
		// 78 bytes before env put the encoded token across the end of the
		// second line.
		enc := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("y", 78+lead) + env))
		var lines []string
		for len(enc) > 76 {
			lines = append(lines, enc[:76])
			enc = enc[76:]
		}
		lines = append(lines, enc)
		id := int64(200 + lead)
		w := e.log.Writer(context.Background(), id)
		for _, ln := range lines {
			fmt.Fprintln(w, ln)
			time.Sleep(25 * time.Millisecond) // several timed flushes between lines
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got := e.all(t, id)
		if want := r.String(strings.Join(lines, "\n") + "\n"); got != want || !strings.Contains(got, jobs.Redacted) {
			t.Errorf("lead %d: stored\n%s\nwant\n%s", lead, got, want)
		}
	}
}

func TestLogHidesAValueAddedWhileTheJobRuns(t *testing.T) {
	r := jobs.NewRedactor()
	e := newLogEnv(t, jobs.LogConfig{}, r)
	w := e.log.Writer(context.Background(), 1)
	w.Line("starting")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	learned := "secret-fetched-from-aws-123" // 27 bytes: its base64 has no partial end
	r.Add(learned)
	fmt.Fprintf(w, "value %s and %s\n", learned, base64.StdEncoding.EncodeToString([]byte(learned)))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.all(t, 1); got != "starting\nvalue [redacted] and [redacted]\n" {
		t.Errorf("log = %q", got)
	}
}

func TestLogKeepsALongLineWhole(t *testing.T) {
	e := newLogEnv(t, jobs.LogConfig{ChunkBytes: 1024}, jobs.NewRedactor(logSecret))
	line := strings.Repeat("0123456789", 30000) // 300 KB, no newline inserted
	w := e.log.Writer(context.Background(), 1)
	writeInPieces(w, line+"\nnext\n", 1, 5000)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.all(t, 1); got != line+"\nnext\n" {
		t.Errorf("the long line was changed: %d bytes, %d newlines", len(got), strings.Count(got, "\n"))
	}
}
