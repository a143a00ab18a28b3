package bot

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/redistest"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
	"github.com/gantry-ci/gantry/spec"
)

// endlessByte is a reader of n copies of one byte, made as they are read.
type endlessByte struct {
	b byte
	n int64
}

func (r *endlessByte) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	for i := range p {
		p[i] = r.b
	}
	r.n -= int64(len(p))
	return len(p), nil
}

func testService(t *testing.T) *commands.Service {
	t.Helper()
	store := jobs.NewStore(redistest.Start(t).RDB(), jobs.StoreConfig{})
	cfg := spec.DefaultServer()
	return commands.NewService(commands.Deps{
		Config: cfg, Store: store, Log: jobs.NewLog(store, jobs.LogConfig{}, nil), Sources: scm.NewResolver(cfg, nil),
	})
}

// A 10 MB line is answered with its length and skipped; the console reads
// the next command, and never holds more than a bounded part of the line.
func TestConsoleSurvivesTenMegabyteLine(t *testing.T) {
	svc := testService(t)
	var out bytes.Buffer
	c := NewConsole(&out, "alice")
	const long = 10 << 20
	in := io.MultiReader(
		strings.NewReader("help build\n"),
		&endlessByte{b: 'x', n: long},
		strings.NewReader("\nhelp deploy\n"),
	)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err := c.Run(context.Background(), in, svc)
	runtime.ReadMemStats(&after)
	if err != io.EOF {
		t.Fatalf("Run: %v, want io.EOF at the end of the input", err)
	}

	text := out.String()
	refusal := strings.Index(text, "That line is too long: 10485760 bytes; a command may be at most 65536 bytes (64 KiB)")
	first := strings.Index(text, "build")
	last := strings.LastIndex(text, "deploy")
	if refusal < 0 || first < 0 || first > refusal || last < refusal {
		t.Fatalf("want the help for build, the refusal, then the help for deploy:\n%s", text)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 4<<20 {
		t.Errorf("reading a %d-byte line allocated %d bytes: the line was held", long, grew)
	}
}

// The limit is exact, line ends are "\n" or "\r\n", and a last line
// without a newline counts.
func TestConsoleLineLimitIsExact(t *testing.T) {
	atLimit := strings.Repeat("a", MaxConsoleLine)
	over := strings.Repeat("b", MaxConsoleLine+1)
	input := atLimit + "\n" + over + "\r\n" + "status\r\n" + over + "\n" + "queue"
	want := []consoleLine{{text: atLimit}, {tooLong: MaxConsoleLine + 2}, {text: "status"}, {tooLong: MaxConsoleLine + 1}, {text: "queue"}}

	br := bufio.NewReaderSize(strings.NewReader(input), MaxConsoleLine+1)
	var got []consoleLine
	for {
		line, err := readLine(br)
		if line != nil {
			got = append(got, *line)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: text of %d bytes, tooLong %d; want text of %d bytes, tooLong %d",
				i, len(got[i].text), got[i].tooLong, len(want[i].text), want[i].tooLong)
		}
	}
}

// A line that never ends is read to the end of the input, in pieces.
func TestConsoleEndlessLineEndsWithTheInput(t *testing.T) {
	svc := testService(t)
	var out bytes.Buffer
	c := NewConsole(&out, "alice")
	err := c.Run(context.Background(), &endlessByte{b: 'z', n: 50 << 20}, svc)
	if err != io.EOF {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(out.String(), "That line is too long: 52428800 bytes") {
		t.Errorf("output: %s", out.String())
	}
}
