package web

import (
	"html"
	"strconv"
	"strings"
)

// ansi renders terminal output as HTML: SGR colour and style sequences
// become spans with classes, every other escape sequence is dropped, and
// all text is escaped. Colours carry over from one line to the next, as in
// a terminal.
type ansi struct {
	st sgr
}

// Line renders one line. A carriage return rewinds the line, as in a
// terminal: what a progress bar printed last is what shows.
func (a *ansi) Line(line string) string {
	if i := strings.LastIndexByte(strings.TrimRight(line, "\r"), '\r'); i >= 0 {
		line = line[i+1:]
	}
	line = strings.ReplaceAll(line, "\r", "")
	var b strings.Builder
	st := &a.st
	open := false
	flush := func(text string) {
		if text == "" {
			return
		}
		cls := st.classes()
		if cls != "" {
			b.WriteString(`<span class="` + cls + `">`)
			open = true
		}
		b.WriteString(html.EscapeString(text))
		if open {
			b.WriteString("</span>")
			open = false
		}
	}
	for {
		i := strings.IndexByte(line, 0x1b)
		if i < 0 {
			flush(line)
			return b.String()
		}
		flush(line[:i])
		line = line[i+1:]
		if !strings.HasPrefix(line, "[") {
			// Not a CSI sequence: drop the escape and one byte after it.
			if len(line) > 0 {
				line = line[1:]
			}
			continue
		}
		j := 1
		for j < len(line) && (line[j] < 0x40 || line[j] > 0x7e) {
			j++
		}
		if j == len(line) {
			return b.String() // cut short: drop the rest
		}
		if line[j] == 'm' {
			st.apply(line[1:j])
		}
		line = line[j+1:]
	}
}

// sgr is the graphic state that SGR sequences set.
type sgr struct {
	fg, bg          string
	bold, dim, ital bool
	under           bool
}

var ansiNames = [...]string{"black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"}

func (s *sgr) apply(params string) {
	if params == "" {
		*s = sgr{}
		return
	}
	ps := strings.Split(params, ";")
	for i := 0; i < len(ps); i++ {
		n, err := strconv.Atoi(ps[i])
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			*s = sgr{}
		case n == 1:
			s.bold = true
		case n == 2:
			s.dim = true
		case n == 3:
			s.ital = true
		case n == 4:
			s.under = true
		case n == 22:
			s.bold, s.dim = false, false
		case n == 23:
			s.ital = false
		case n == 24:
			s.under = false
		case n >= 30 && n <= 37:
			s.fg = ansiNames[n-30]
		case n >= 90 && n <= 97:
			s.fg = "bright-" + ansiNames[n-90]
		case n == 39:
			s.fg = ""
		case n >= 40 && n <= 47:
			s.bg = ansiNames[n-40]
		case n >= 100 && n <= 107:
			s.bg = "bright-" + ansiNames[n-100]
		case n == 49:
			s.bg = ""
		case n == 38 || n == 48:
			// 256-colour and true-colour forms: skip their arguments.
			if i+1 < len(ps) && ps[i+1] == "5" {
				i += 2
			} else if i+1 < len(ps) && ps[i+1] == "2" {
				i += 4
			}
		}
	}
}

func (s *sgr) classes() string {
	var cls []string
	if s.fg != "" {
		cls = append(cls, "fg-"+s.fg)
	}
	if s.bg != "" {
		cls = append(cls, "bg-"+s.bg)
	}
	if s.bold {
		cls = append(cls, "bold")
	}
	if s.dim {
		cls = append(cls, "dim")
	}
	if s.ital {
		cls = append(cls, "italic")
	}
	if s.under {
		cls = append(cls, "underline")
	}
	return strings.Join(cls, " ")
}
