package spec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxFileSize is the largest file Parse and ParseServer read.
const MaxFileSize = 1 << 20

// document parses data and returns its root node, or nil when the file holds
// no document (ok) or could not be parsed (a problem is recorded).
func (d *decoder) document(data []byte) (root *yaml.Node, ok bool) {
	if len(data) > MaxFileSize {
		d.problem(nil, "the file is too large (%d bytes; the limit is %d)", len(data), MaxFileSize)
		return nil, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, true
		}
		d.syntaxError(err, data)
		return nil, false
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		d.problem(&next, "the file holds more than one YAML document (a second \"---\"): write everything in one")
		return nil, false
	case !errors.Is(err, io.EOF):
		d.syntaxError(err, data)
		return nil, false
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, true
	}
	root = resolve(doc.Content[0])
	if isNull(root) {
		return nil, true
	}
	return root, true
}

var (
	yamlLineRE      = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	unknownAnchorRE = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)
)

// syntaxError records what the YAML parser said, at the line of the problem.
func (d *decoder) syntaxError(err error, data []byte) {
	msg, line := strings.TrimPrefix(err.Error(), "yaml: "), 0
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	line = problemLine(data, msg, line)
	if line > 0 && strings.Contains(msg, "cannot start any token") && strings.Contains(lineText(data, line), "\t") {
		msg += " (tabs cannot indent YAML: use spaces)"
	}
	if m := unknownAnchorRE.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("*%s refers to no anchor (define &%s before using it)", m[1], m[1])
	}
	d.addf(line, "invalid YAML: %s", msg)
}

// syntaxBudget bounds the bytes problemLine parses.
const syntaxBudget = 16 << 20

// problemLine finds the line a YAML syntax error is on. The parser reports
// the line where the construct holding the problem began (and none for
// problems on the first line), which can be far above the problem itself;
// the problem is on the first line at which the text up to it fails to parse
// with the same message. reported is the parser's line: the search starts
// just above it, and it is the answer when the search finds nothing.
func problemLine(data []byte, msg string, reported int) int {
	start := max(1, reported-1)
	ends := lineEnds(data)
	spent := 0
	for k := start; k <= len(ends); k++ {
		prefix := data[:ends[k-1]]
		if spent += len(prefix); spent > syntaxBudget {
			break
		}
		err := parseError(prefix)
		if err == nil {
			continue
		}
		got := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			got = m[2]
		}
		if got == msg {
			return k
		}
	}
	return reported
}

// parseError returns the syntax error in the first two documents of data.
func parseError(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for range 2 {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
	return nil
}

// lineEnds returns, for each line of data, the offset just past it. Lines
// end as YAML ends them: at "\r\n", "\r", "\n", NEL, LS or PS.
func lineEnds(data []byte) []int {
	var ends []int
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n':
			i++
		case data[i] == '\r', data[i] == '\n':
		case data[i] == 0xC2 && i+1 < len(data) && data[i+1] == 0x85:
			i++
		case data[i] == 0xE2 && i+2 < len(data) && data[i+1] == 0x80 && (data[i+2] == 0xA8 || data[i+2] == 0xA9):
			i += 2
		default:
			continue
		}
		ends = append(ends, i+1)
	}
	if len(data) > 0 && (len(ends) == 0 || ends[len(ends)-1] < len(data)) {
		ends = append(ends, len(data))
	}
	return ends
}

// lineText returns line n (1-based) of data.
func lineText(data []byte, n int) string {
	ends := lineEnds(data)
	if n < 1 || n > len(ends) {
		return ""
	}
	start := 0
	if n > 1 {
		start = ends[n-2]
	}
	return string(data[start:ends[n-1]])
}
