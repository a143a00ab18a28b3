package spec

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{File: ".gantry.yml", Line: 7, Msg: "bad"}, ".gantry.yml:7: bad"},
		{Problem{File: ".gantry.yml", Msg: "bad"}, ".gantry.yml: bad"},
		{Problem{Line: 3, Msg: "bad"}, "line 3: bad"},
		{Problem{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestErrorIsFoundThroughWrapping(t *testing.T) {
	_, err := Parse(".gantry.yml", []byte("image: [x]\ntimeout: x\n"))
	wrapped := fmt.Errorf("read .gantry.yml at abc123: %w", err)
	var se *Error
	if !errors.As(wrapped, &se) {
		t.Fatalf("errors.As failed on %v", wrapped)
	}
	want := []Problem{
		{File: ".gantry.yml", Line: 1, Msg: "image: must be a string, not a list"},
		{File: ".gantry.yml", Line: 1, Msg: "no pipelines or deploy stages: add pipelines: (e.g. branch, pr) or deploy: with at least one stage"},
		{File: ".gantry.yml", Line: 2, Msg: `timeout: "x" is not a duration (e.g. 30m, 1h, 7d)`},
	}
	if diff := cmp.Diff(want, se.Problems, cmp.AllowUnexported(Error{})); diff != "" {
		t.Errorf("Problems (-want +got):\n%s", diff)
	}
}

func TestProblemsSortedDeduplicatedAndCapped(t *testing.T) {
	ps := problems{file: "f"}
	ps.addf(3, "c")
	ps.addf(1, "a")
	ps.addf(3, "c")
	ps.addf(2, "b")
	ps.addf(1, "a2")
	var se *Error
	if !errors.As(ps.err(), &se) {
		t.Fatal("not an *Error")
	}
	if got, want := se.Error(), "f:1: a\nf:1: a2\nf:2: b\nf:3: c"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}

	if (&problems{}).err() != nil {
		t.Error("no problems gave an error")
	}

	many := problems{file: "f"}
	for i := range maxProblems + 7 {
		many.addf(i+1, "p%d", i+1)
	}
	lines := strings.Split(many.err().Error(), "\n")
	if len(lines) != maxProblems+1 {
		t.Fatalf("got %d lines, want %d", len(lines), maxProblems+1)
	}
	if got, want := lines[maxProblems-1], "f:"+strconv.Itoa(maxProblems)+": p"+strconv.Itoa(maxProblems); got != want {
		t.Errorf("last problem shown = %q, want %q", got, want)
	}
	if got, want := lines[maxProblems], "f: 7 more problems not shown"; got != want {
		t.Errorf("summary = %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	keys := []string{"setup", "steps", "env", "image", "services", "resources", "timeout", "default_branch"}
	tests := map[string]string{
		"stpes":          "steps",
		"step":           "steps",
		"Steps":          "steps",
		"enviroment":     "",
		"envs":           "env",
		"imgae":          "image",
		"servics":        "services",
		"default-branch": "default_branch",
		"colour":         "",
		"ab":             "",
		"":               "",
	}
	for word, want := range tests {
		if got := suggest(word, keys); got != want {
			t.Errorf("suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestLineEnds(t *testing.T) {
	tests := map[string][]int{
		"":                      nil,
		"a":                     {1},
		"a\n":                   {2},
		"a\nb":                  {2, 3},
		"a\r\nb\r\n":            {3, 6},
		"a\rb":                  {2, 3},
		"a\u0085b\u2028c\u2029": {3, 7, 11},
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, lineEnds([]byte(in))); diff != "" {
			t.Errorf("lineEnds(%q) (-want +got):\n%s", in, diff)
		}
	}
	if got := lineText([]byte("a\nbc\r\nd"), 2); got != "bc\r\n" {
		t.Errorf("lineText = %q", got)
	}
}
