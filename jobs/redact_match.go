package jobs

import (
	"bytes"
	"slices"
)

// matcher finds every occurrence of a fixed set of byte patterns in one
// pass over the text (an Aho–Corasick automaton), however many patterns
// there are: each secret gantry knows brings a dozen encoded forms.
//
// Line breaks in the text are skipped, so a pattern is found also when an
// encoder wrapped it over several lines (base64 wraps at 76 columns by
// default, xxd -p at 60). Patterns are stored without line breaks for the
// same reason: a private key matches however its lines are broken.
type matcher struct {
	root   [256]int32  // the state after each byte read in the root
	first  []int32     // the edges of state s are edges[first[s]:first[s+1]]
	edges  []matchEdge // sorted by byte within a state
	fail   []int32     // the longest proper suffix of a state that is also a state
	out    []int32     // length of the longest pattern ending in a state, 0 for none
	maxLen int
}

type matchEdge struct {
	b  byte
	to int32
}

// span is a part of a text, [start, end).
type span struct{ start, end int }

func isBreak(c byte) bool { return c == '\n' || c == '\r' }

func stripBreaks(p []byte) []byte {
	if bytes.IndexAny(p, "\r\n") < 0 {
		return p
	}
	out := make([]byte, 0, len(p))
	for _, c := range p {
		if !isBreak(c) {
			out = append(out, c)
		}
	}
	return out
}

// trieNode is a state of the matcher while it is being built.
type trieNode struct {
	next  map[byte]int32
	depth int32
	term  bool
}

// newMatcher builds the automaton for patterns; empty ones are ignored.
func newMatcher(patterns [][]byte) *matcher {
	m := &matcher{}
	nodes := []trieNode{{}}
	for _, p := range patterns {
		p = stripBreaks(p)
		if len(p) == 0 {
			continue
		}
		s := int32(0)
		for _, c := range p {
			t, ok := nodes[s].next[c]
			if !ok {
				if nodes[s].next == nil {
					nodes[s].next = map[byte]int32{}
				}
				t = int32(len(nodes))
				nodes = append(nodes, trieNode{depth: nodes[s].depth + 1})
				nodes[s].next[c] = t
			}
			s = t
		}
		nodes[s].term = true
		m.maxLen = max(m.maxLen, len(p))
	}
	m.link(nodes)
	m.flatten(nodes)
	return m
}

// link computes the failure links and outputs, breadth first so that a
// state's shorter suffixes are done before it.
func (m *matcher) link(nodes []trieNode) {
	m.fail = make([]int32, len(nodes))
	m.out = make([]int32, len(nodes))
	var queue []int32
	for c, t := range nodes[0].next {
		m.root[c] = t
		queue = append(queue, t)
	}
	step := func(s int32, c byte) int32 {
		for s != 0 {
			if t, ok := nodes[s].next[c]; ok {
				return t
			}
			s = m.fail[s]
		}
		return m.root[c]
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		if nodes[s].term {
			m.out[s] = nodes[s].depth
		} else {
			m.out[s] = m.out[m.fail[s]]
		}
		for c, t := range nodes[s].next {
			m.fail[t] = step(m.fail[s], c)
			queue = append(queue, t)
		}
	}
}

// flatten turns the build maps into sorted edge lists.
func (m *matcher) flatten(nodes []trieNode) {
	m.first = make([]int32, len(nodes)+1)
	for s, n := range nodes {
		m.first[s] = int32(len(m.edges))
		if s == 0 {
			continue // the root's edges are in m.root
		}
		start := len(m.edges)
		for c, t := range n.next {
			m.edges = append(m.edges, matchEdge{b: c, to: t})
		}
		slices.SortFunc(m.edges[start:], func(a, b matchEdge) int { return int(a.b) - int(b.b) })
	}
	m.first[len(nodes)] = int32(len(m.edges))
}

// next is the state after reading c in state s.
func (m *matcher) next(s int32, c byte) int32 {
	for s != 0 {
		for _, e := range m.edges[m.first[s]:m.first[s+1]] {
			if e.b == c {
				return e.to
			}
			if e.b > c {
				break
			}
		}
		s = m.fail[s]
	}
	return m.root[c]
}

// find appends to spans the parts of text covered by occurrences of the
// patterns, merged where they overlap or touch, in order.
func (m *matcher) find(text []byte, spans []span) []span {
	if m == nil || m.maxLen == 0 {
		return spans
	}
	// pos remembers where the last maxLen non-break bytes were, to find
	// the start of an occurrence that skipped line breaks.
	size := 1
	for size < m.maxLen {
		size <<= 1
	}
	pos := make([]int, size)
	mask := size - 1
	s, k := int32(0), 0
	for i, c := range text {
		if isBreak(c) {
			continue
		}
		s = m.next(s, c)
		pos[k&mask] = i
		k++
		if n := int(m.out[s]); n > 0 {
			spans = addSpan(spans, span{pos[(k-n)&mask], i + 1})
		}
	}
	return spans
}

// addSpan appends sp to spans, which are ordered by end, merging it with
// those it overlaps or touches.
func addSpan(spans []span, sp span) []span {
	for len(spans) > 0 {
		last := spans[len(spans)-1]
		if sp.start > last.end {
			break
		}
		sp.start = min(sp.start, last.start)
		sp.end = max(sp.end, last.end)
		spans = spans[:len(spans)-1]
	}
	return append(spans, sp)
}

// mergeSpans sorts spans by start and merges those that overlap or touch.
func mergeSpans(spans []span) []span {
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	var out []span
	for _, sp := range spans {
		if n := len(out); n > 0 && sp.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, sp.end)
			continue
		}
		out = append(out, sp)
	}
	return out
}
