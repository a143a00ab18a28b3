package spec

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// walkBudget bounds the values one file may make the decoder visit, so that
// aliases nested inside aliases cannot make a small file cost a lot of work.
const walkBudget = 1_000_000

// decoder walks a yaml.Node tree along the schema of one of our files and
// collects what is wrong with it.
type decoder struct {
	problems
	budget int
	// ecsEnvNode is where the server config's runner.ecs.environments
	// is, for checks that span sections.
	ecsEnvNode *yaml.Node
	// names are the persons, groups and channels written by name.
	names []Name
	// scheduleNodes are the keys of the server config's schedules, one per
	// Server.Schedules entry, for checkSchedules' messages.
	scheduleNodes []*yaml.Node
}

func newDecoder(file string) *decoder {
	return &decoder{problems: problems{file: file}, budget: walkBudget}
}

// problem records a problem at the line of n (0 when n is nil).
func (d *decoder) problem(n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.addf(line, format, args...)
}

// spend takes one unit of the walk budget and reports whether the walk may
// go on.
func (d *decoder) spend() bool {
	d.budget--
	if d.budget == 0 {
		d.problem(nil, "the file is too complex: its aliases expand to more than %d values", walkBudget)
	}
	return d.budget > 0
}

// resolve follows aliases to the node they refer to.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names the kind of value n is, for "must be X, not Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch tag := n.ShortTag(); tag {
		case "!!null":
			return "empty"
		case "!!str":
			return fmt.Sprintf("the string %q", clip(n.Value))
		case "!!int", "!!float":
			return "the number " + plain(n.Value)
		case "!!bool":
			return plain(n.Value)
		case "!!timestamp":
			return "the date " + plain(n.Value)
		default:
			return "a value tagged " + tag
		}
	}
	return "an unexpected value"
}

// clip shortens s for quoting it (%q) in a message.
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:39]) + "…"
	}
	return s
}

// plain shortens s for writing it unquoted in a message, escaping line
// breaks and other control characters so that a problem stays on one line.
func plain(s string) string {
	s = clip(s)
	if strings.IndexFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 }) < 0 {
		return s
	}
	q := strconv.Quote(s)
	return q[1 : len(q)-1]
}

// field is one key of a mapping and its value (not resolved).
type field struct {
	key, val *yaml.Node
}

// fields returns the keys of mapping n in order, with merge keys ("<<")
// applied: keys written in n win over merged ones, and earlier merged
// mappings win over later ones. where names the mapping in messages, as
// ` in pipeline "branch"`.
func (d *decoder) fields(n *yaml.Node, where string) []field {
	return d.collect(n, where, map[*yaml.Node]bool{})
}

func (d *decoder) collect(n *yaml.Node, where string, visited map[*yaml.Node]bool) []field {
	if visited[n] {
		return nil
	}
	visited[n] = true
	var out []field
	seen := map[string]*yaml.Node{}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content) && d.spend(); i += 2 {
		k := resolve(n.Content[i])
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if k.Kind != yaml.ScalarNode || isNull(k) {
			d.problem(k, "keys%s must be names, not %s", where, describe(k))
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.problem(k, "key %q%s is defined twice (first on line %d)", clip(k.Value), where, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, field{key: k, val: n.Content[i+1]})
	}
	for _, m := range merges {
		var sources []*yaml.Node
		switch m = resolve(m); m.Kind {
		case yaml.MappingNode:
			sources = []*yaml.Node{m}
		case yaml.SequenceNode:
			sources = m.Content
		}
		if len(sources) == 0 {
			d.problem(m, "merge key \"<<\"%s must refer to a mapping or a list of mappings, not %s", where, describe(m))
			continue
		}
		for _, s := range sources {
			s = resolve(s)
			if s.Kind != yaml.MappingNode {
				d.problem(s, "merge key \"<<\"%s must refer to a mapping or a list of mappings, not %s", where, describe(s))
				continue
			}
			for _, f := range d.collect(s, where, visited) {
				if _, dup := seen[f.key.Value]; !dup {
					seen[f.key.Value] = f.key
					out = append(out, f)
				}
			}
		}
	}
	return out
}

// mapping returns the fields of n, which must be a mapping; empty (null)
// counts as a mapping with no keys.
func (d *decoder) mapping(n *yaml.Node, subject, where string) ([]field, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.MappingNode {
		d.problem(n, "%s: must be a mapping, not %s", subject, describe(n))
		return nil, false
	}
	return d.fields(n, where), true
}

// list returns the items of n (resolved), which must be a list; empty
// (null) counts as a list with no items.
func (d *decoder) list(n *yaml.Node, subject string) ([]*yaml.Node, bool) {
	n = resolve(n)
	if isNull(n) {
		return nil, true
	}
	if n.Kind != yaml.SequenceNode {
		hint := ""
		if n.Kind == yaml.ScalarNode {
			hint = fmt.Sprintf(" (write [%s])", plain(n.Value))
		}
		d.problem(n, "%s: must be a list, not %s%s", subject, describe(n), hint)
		return nil, false
	}
	items := make([]*yaml.Node, 0, len(n.Content))
	for _, it := range n.Content {
		if !d.spend() {
			break
		}
		items = append(items, resolve(it))
	}
	return items, true
}

// str returns n as a string; only YAML strings are accepted.
func (d *decoder) str(n *yaml.Node, subject string) (string, bool) {
	n = resolve(n)
	switch {
	case isNull(n):
		d.problem(n, "%s: has no value", subject)
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str":
		return n.Value, true
	case n.Kind == yaml.ScalarNode && isPlainValue(n):
		d.problem(n, "%s: must be a string, not %s (put it in quotes: %q)", subject, describe(n), clip(n.Value))
	case n.Kind == yaml.MappingNode:
		d.problem(n, "%s: must be a string, not a mapping (put text that contains \": \" in quotes)", subject)
	default:
		d.problem(n, "%s: must be a string, not %s", subject, describe(n))
	}
	return "", false
}

// isPlainValue reports whether n is a number, boolean or date: a value that
// becomes a string when quoted.
func isPlainValue(n *yaml.Node) bool {
	switch n.ShortTag() {
	case "!!int", "!!float", "!!bool", "!!timestamp":
		return true
	}
	return false
}

// text returns n as written, accepting numbers and booleans as well as
// strings: for values that end up as text anyway, such as env values.
func (d *decoder) text(n *yaml.Node, subject string) (string, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && isPlainValue(n) {
		return n.Value, true
	}
	return d.str(n, subject)
}

// boolean returns n, which must be true or false.
func (d *decoder) boolean(n *yaml.Node, subject string) (bool, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		return strings.EqualFold(n.Value, "true"), true
	}
	if isNull(n) {
		d.problem(n, "%s: has no value (write true or false)", subject)
	} else {
		d.problem(n, "%s: must be true or false, not %s", subject, describe(n))
	}
	return false, false
}

// integer returns n, which must be a whole number from lo to hi.
func (d *decoder) integer(n *yaml.Node, subject string, lo, hi int) (int, bool) {
	n = resolve(n)
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		var v int
		if err := n.Decode(&v); err == nil && v >= lo && v <= hi {
			return v, true
		}
	}
	d.problem(n, "%s: must be a whole number from %d to %d, not %s", subject, lo, hi, describe(n))
	return 0, false
}

// duration returns n, which must be a Go duration more than zero and at most max.
func (d *decoder) duration(n *yaml.Node, subject string, max time.Duration) (time.Duration, bool) {
	n = resolve(n)
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.problem(n, "%s: must be a duration such as 30m or 1h, not %s", subject, describe(n))
		return 0, false
	}
	v, err := parseDuration(n.Value)
	switch {
	case err != nil:
		d.problem(n, "%s: %q is not a duration (e.g. 30m, 1h, 7d)", subject, clip(n.Value))
	case v <= 0:
		d.problem(n, "%s: %q must be more than zero", subject, clip(n.Value))
	case v > max:
		d.problem(n, "%s: %q is more than the limit of %s", subject, clip(n.Value), formatDuration(max))
	default:
		return v, true
	}
	return 0, false
}

// FormatDays writes d as the server config is written: whole days where
// it is some (7d), else as a Go duration without zero units (90m → 1h30m).
func FormatDays(d time.Duration) string { return formatDays(d) }

// formatDays writes d in whole days where it is some (30d), else as
// formatDuration does.
func formatDays(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	return formatDuration(d)
}

// parseDuration reads a Go duration (90m, 1h30m), or a whole number of
// days (30d).
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 || n > 100000 {
			return 0, fmt.Errorf("bad number of days %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// unknownKey records a key that is not one of known, suggesting the nearest.
func (d *decoder) unknownKey(k *yaml.Node, where string, known []string) {
	if s := suggest(k.Value, known); s != "" {
		d.problem(k, "unknown key %q%s (did you mean %q?)", clip(k.Value), where, s)
		return
	}
	d.problem(k, "unknown key %q%s (known keys: %s)", clip(k.Value), where, strings.Join(known, ", "))
}

// suggest returns the word of known nearest to word, if it is near enough
// to be a likely typo, else "".
func suggest(word string, known []string) string {
	if len(word) > 64 {
		return ""
	}
	w := strings.ToLower(word)
	best, bestDist := "", 3
	for _, k := range known {
		limit := 2
		if len(k) <= 4 {
			limit = 1
		}
		if dist := editDistance(w, k); dist <= limit && dist < bestDist {
			best, bestDist = k, dist
		}
	}
	return best
}

// editDistance is the optimal string alignment distance of a and b: the
// edits (insert, delete, replace, swap two neighbours) that turn a into b.
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	prev2 := make([]int, len(y)+1)
	prev := make([]int, len(y)+1)
	cur := make([]int, len(y)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(x); i++ {
		cur[0] = i
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(y)]
}

// formatDuration writes d as people write it: 30m, 1h30m, 45s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
