package spec

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a file, at a line of it.
type Problem struct {
	File string
	Line int // 1-based; 0 when the problem concerns the whole file
	Msg  string
}

// String returns "file:line: msg", leaving out the line when it is 0.
func (p Problem) String() string {
	switch {
	case p.File == "" && p.Line > 0:
		return "line " + strconv.Itoa(p.Line) + ": " + p.Msg
	case p.File == "":
		return p.Msg
	case p.Line > 0:
		return p.File + ":" + strconv.Itoa(p.Line) + ": " + p.Msg
	default:
		return p.File + ": " + p.Msg
	}
}

// Error is what Parse and ParseServer return for a file they cannot accept:
// every problem found, in the order of the lines they concern. Its text is
// meant for the person who wrote the file.
type Error struct {
	Problems []Problem

	// kind is ErrNotDefined for lookups of a pipeline or environment that
	// the file does not have; nil otherwise.
	kind error
}

// ErrNotDefined is matched (errors.Is) by the error File.Pipeline and
// File.Deploy return for a name the file does not define.
var ErrNotDefined = errors.New("not defined in the file")

// Error returns the problems, one per line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is find ErrNotDefined.
func (e *Error) Unwrap() error { return e.kind }

// maxProblems is how many problems an Error lists before it summarises the rest.
const maxProblems = 50

// problems collects the problems of one file.
type problems struct {
	file  string
	found []Problem
}

func (ps *problems) addf(line int, format string, args ...any) {
	ps.found = append(ps.found, Problem{File: ps.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// err returns nil when nothing was found, else an *Error with the problems
// sorted by line, without repeats (a value reached through several aliases
// is checked each time), and cut at maxProblems.
func (ps *problems) err() error {
	if len(ps.found) == 0 {
		return nil
	}
	list := slices.Clone(ps.found)
	slices.SortStableFunc(list, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	seen := make(map[Problem]bool, len(list))
	out := list[:0]
	for _, p := range list {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	if n := len(out) - maxProblems; n > 0 {
		out = append(out[:maxProblems], Problem{File: ps.file, Msg: fmt.Sprintf("%d more problems not shown", n)})
	}
	return &Error{Problems: out}
}
