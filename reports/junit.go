// Package reports reads the test reports a job leaves (JUnit XML) into a
// summary that a job record keeps: how many tests passed, failed and were
// skipped, and the first failing tests with what they said.
//
// Reports come from the build, which gantry does not trust: every read is
// capped (bytes per file, files, failures kept, bytes of each failure's
// text), and a file that is not JUnit XML is a note, never a crash.
package reports

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Caps on what a summary keeps.
const (
	MaxFailures    = 20       // failing tests named in a summary
	MaxFailureText = 4 << 10  // bytes of a failure's message and output together
	MaxFileBytes   = 10 << 20 // bytes read of one report file
	MaxFiles       = 50       // report files read per job
	maxNameBytes   = 300
)

// Summary is what a job's test reports say. Its zero value is "no tests".
type Summary struct {
	Passed   int       `json:"passed"`
	Failed   int       `json:"failed"` // failures and errors
	Skipped  int       `json:"skipped"`
	Failures []Failure `json:"failures,omitempty"` // the first MaxFailures
	// Files is how many report files were read.
	Files int `json:"files"`
}

// Failure is one failing test.
type Failure struct {
	Name    string `json:"name"`              // suite, class and test name, as "Class.name"
	Message string `json:"message,omitempty"` // the failure's message attribute
	Output  string `json:"output,omitempty"`  // the failure's text, cut to fit MaxFailureText
}

// Total is how many tests ran or were skipped.
func (s Summary) Total() int { return s.Passed + s.Failed + s.Skipped }

// Unlisted is how many failing tests the summary counts but does not name.
func (s Summary) Unlisted() int { return max(s.Failed-len(s.Failures), 0) }

// Counts is "412 passed, 3 failed, 2 skipped".
func (s Summary) Counts() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", s.Passed, s.Failed, s.Skipped)
}

// Add adds o's counts and failures to s, keeping at most MaxFailures.
func (s *Summary) Add(o Summary) {
	s.Passed += o.Passed
	s.Failed += o.Failed
	s.Skipped += o.Skipped
	s.Files += o.Files
	for _, f := range o.Failures {
		if len(s.Failures) < MaxFailures {
			s.Failures = append(s.Failures, f)
		}
	}
}

// The XML shapes: <testsuites> holding <testsuite>s (which may nest), or
// one <testsuite>. Counts come from the <testcase>s; the suites' own
// tests/failures attributes are ignored, since they are often wrong or
// missing.
type suite struct {
	Name   string     `xml:"name,attr"`
	Suites []suite    `xml:"testsuite"`
	Cases  []testcase `xml:"testcase"`
}

type testcase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	Failures  []problem `xml:"failure"`
	Errors    []problem `xml:"error"`
	Skipped   *struct{} `xml:"skipped"`
	SystemOut string    `xml:"system-out"`
}

type problem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// ErrTooLarge is returned for a report larger than MaxFileBytes.
var ErrTooLarge = fmt.Errorf("larger than %d MiB", MaxFileBytes>>20)

// ParseJUnit reads one JUnit XML report: a <testsuites> document or a
// single <testsuite>. It reads at most MaxFileBytes of r.
func ParseJUnit(r io.Reader) (Summary, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFileBytes+1))
	if err != nil {
		return Summary{}, err
	}
	if len(data) > MaxFileBytes {
		return Summary{}, ErrTooLarge
	}
	d := xml.NewDecoder(strings.NewReader(string(data)))
	d.Strict = true
	var root suite
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Summary{}, errors.New("no <testsuites> or <testsuite> element")
			}
			return Summary{}, xmlError(d, err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch start.Name.Local {
		case "testsuites", "testsuite":
			if err := d.DecodeElement(&root, &start); err != nil {
				return Summary{}, xmlError(d, err)
			}
			if start.Name.Local == "testsuite" {
				root = suite{Suites: []suite{root}}
			}
		default:
			return Summary{}, fmt.Errorf("the root element is <%s>, not <testsuites> or <testsuite>", clip(start.Name.Local, 40))
		}
		break
	}
	var s Summary
	s.Files = 1
	count(&s, root, "")
	return s, nil
}

func xmlError(d *xml.Decoder, err error) error {
	line, _ := d.InputPos()
	var se *xml.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("line %d: %s", se.Line, clip(se.Msg, 200))
	}
	return fmt.Errorf("line %d: %s", line, clip(err.Error(), 200))
}

// count adds the cases of st and its nested suites to s; depth is bounded
// by the XML decoder's own nesting.
func count(s *Summary, st suite, outer string) {
	name := st.Name
	if name == "" {
		name = outer
	}
	for _, c := range st.Cases {
		switch {
		case len(c.Failures) > 0 || len(c.Errors) > 0:
			s.Failed++
			if len(s.Failures) < MaxFailures {
				s.Failures = append(s.Failures, failure(c, name))
			}
		case c.Skipped != nil:
			s.Skipped++
		default:
			s.Passed++
		}
	}
	for _, sub := range st.Suites {
		count(s, sub, name)
	}
}

func failure(c testcase, suiteName string) Failure {
	name := c.Name
	switch {
	case c.Classname != "":
		name = c.Classname + "." + c.Name
	case suiteName != "":
		name = suiteName + "." + c.Name
	}
	p := append(c.Failures, c.Errors...)[0]
	msg := clip(strings.TrimSpace(p.Message), MaxFailureText/4)
	out := strings.TrimSpace(p.Text)
	if out == "" {
		out = strings.TrimSpace(c.SystemOut)
	}
	return Failure{Name: clip(name, maxNameBytes), Message: msg, Output: clip(out, MaxFailureText-len(msg))}
}

// clip cuts s to at most n bytes on a rune boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + "…"
}
