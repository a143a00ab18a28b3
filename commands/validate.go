package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on the words of a command.
const (
	maxRepoNameLen = 100  // characters in a configured repo name
	maxPathLen     = 1024 // characters in a console repo path
	maxRefLen      = 200  // characters in a ref
	maxNameLen     = 63   // characters in an environment, pool or resource name
	maxReasonLen   = 500  // characters in a reject or lock reason
	maxTail        = 1000 // lines "logs --tail" may ask for
	defaultTail    = 30   // lines "logs" shows without --tail
	maxQuotedLen   = 60   // characters of a person's word echoed back in a reply
)

// invalidWordError says which word is wrong, what it was meant to be and
// which rule it broke, as a sentence a person can act on:
//
//	“feature..x” is not a valid ref: it contains “..”
type invalidWordError struct {
	word string // as the person typed it
	what string // "ref", "repo name", "environment name", ...
	rule string // what is wrong with it
}

func (e *invalidWordError) Error() string {
	return fmt.Sprintf("%s is not a valid %s: %s", quoteWord(e.word), e.what, e.rule)
}

// IsPathLike reports whether a repo word names a local directory rather than
// a configured repository: it contains "/" or starts with ".". Only the
// console accepts paths; the caller decides.
func IsPathLike(s string) bool {
	return strings.Contains(s, "/") || strings.HasPrefix(s, ".")
}

// ValidRepoName checks a repo word: a configured name (a letter or digit,
// then up to 99 letters, digits, ".", "_" or "-"), or, when IsPathLike, a
// local path (no NUL, line breaks or other control characters, not starting
// with "-", at most 1024 characters). The error names the word and the rule
// it broke.
func ValidRepoName(s string) error {
	if IsPathLike(s) {
		return validRepoPath(s)
	}
	bad := func(rule string) error { return &invalidWordError{word: s, what: "repo name", rule: rule} }
	if s == "" {
		return bad("it is empty")
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxRepoNameLen {
		return bad(fmt.Sprintf("it is %d characters long; the limit is %d", n, maxRepoNameLen))
	}
	if !isASCIIAlnum(rune(s[0])) {
		r, _ := utf8.DecodeRuneInString(s)
		return bad(fmt.Sprintf("it starts with %s; a repo name starts with a letter or a digit", quoteRune(r)))
	}
	for _, r := range s {
		if !isASCIIAlnum(r) && r != '.' && r != '_' && r != '-' {
			return bad(fmt.Sprintf("it contains %s; repo names use letters, digits, “.”, “_” and “-”", quoteRune(r)))
		}
	}
	return nil
}

func validRepoPath(s string) error {
	bad := func(rule string) error { return &invalidWordError{word: s, what: "path", rule: rule} }
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxPathLen {
		return bad(fmt.Sprintf("it is %d characters long; the limit is %d", n, maxPathLen))
	}
	if strings.HasPrefix(s, "-") {
		return bad("it starts with “-”")
	}
	for _, r := range s {
		switch {
		case r == 0:
			return bad("it contains a NUL character")
		case r == '\n' || r == '\r':
			return bad("it contains a line break")
		case unicode.IsControl(r):
			return bad(fmt.Sprintf("it contains the control character %s", quoteRune(r)))
		}
	}
	return nil
}

// ValidRef checks a ref by the rules of git check-ref-format, one-level names
// allowed (so a branch "main", a tag "v1.2" and a 7–40 character hex SHA all
// pass): no "..", "//" or "@{"; no control characters, spaces or any of
// ~ ^ : ? * [ \; no part starting with "." or ending with ".lock"; not
// starting with "-" or "/", not ending with "/" or "."; not "@" alone; at
// most 200 characters. The error names the ref and the rule it broke.
func ValidRef(s string) error {
	bad := func(rule string) error { return &invalidWordError{word: s, what: "ref", rule: rule} }
	if s == "" {
		return bad("it is empty")
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxRefLen {
		return bad(fmt.Sprintf("it is %d characters long; the limit is %d", n, maxRefLen))
	}
	for _, r := range s {
		switch {
		case r == ' ' || unicode.IsSpace(r):
			return bad("it contains a space")
		case unicode.IsControl(r):
			return bad(fmt.Sprintf("it contains the control character %s", quoteRune(r)))
		case strings.ContainsRune(`~^:?*[\`, r):
			return bad(fmt.Sprintf("it contains %s", quoteRune(r)))
		case !unicode.IsGraphic(r):
			return bad(fmt.Sprintf("it contains the invisible character %s", quoteRune(r)))
		}
	}
	switch {
	case s == "@":
		return bad("it is “@” alone, which git reserves")
	case strings.HasPrefix(s, "-"):
		return bad("it starts with “-”")
	case strings.HasPrefix(s, "/"):
		return bad("it starts with “/”")
	case strings.HasSuffix(s, "/"):
		return bad("it ends with “/”")
	case strings.HasSuffix(s, "."):
		return bad("it ends with “.”")
	case strings.Contains(s, ".."):
		return bad("it contains “..”")
	case strings.Contains(s, "//"):
		return bad("it contains “//”")
	case strings.Contains(s, "@{"):
		return bad("it contains “@{”")
	}
	parts := strings.Split(s, "/")
	for _, p := range parts {
		subject := "it"
		if len(parts) > 1 {
			subject = "its part " + quoteWord(p)
		}
		if strings.HasPrefix(p, ".") {
			return bad(subject + " starts with “.”")
		}
		if strings.HasSuffix(p, ".lock") {
			return bad(subject + " ends with “.lock”")
		}
	}
	return nil
}

// ValidEnvName checks an environment name: a lowercase letter or digit, then
// up to 62 lowercase letters, digits, "_" or "-".
func ValidEnvName(s string) error { return validName("environment name", s) }

// ValidPipelineName checks the name of a pipeline by the rule of
// ValidEnvName.
func ValidPipelineName(s string) error { return validName("pipeline name", s) }

// ValidPoolName checks a resource pool name by the rule of ValidEnvName.
func ValidPoolName(s string) error { return validName("pool name", s) }

// ValidResourceName checks the name of a pool member by the rule of
// ValidEnvName.
func ValidResourceName(s string) error { return validName("resource name", s) }

func validName(what, s string) error {
	bad := func(rule string) error { return &invalidWordError{word: s, what: what, rule: rule} }
	if s == "" {
		return bad("it is empty")
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > maxNameLen {
		return bad(fmt.Sprintf("it is %d characters long; the limit is %d", n, maxNameLen))
	}
	if lower := strings.ToLower(s); lower != s && validName(what, lower) == nil {
		return bad(fmt.Sprintf("names are lowercase (did you mean %s?)", quoteWord(lower)))
	}
	if !isLowerAlnum(rune(s[0])) {
		r, _ := utf8.DecodeRuneInString(s)
		return bad(fmt.Sprintf("it starts with %s; names start with a lowercase letter or a digit", quoteRune(r)))
	}
	for _, r := range s {
		if !isLowerAlnum(r) && r != '_' && r != '-' {
			return bad(fmt.Sprintf("it contains %s; names use lowercase letters, digits, “-” and “_”", quoteRune(r)))
		}
	}
	return nil
}

// isJobWord reports whether a word is meant as a job number: "#…" or all
// digits.
func isJobWord(s string) bool {
	return strings.HasPrefix(s, "#") || (s != "" && allDigits(s))
}

// parseJobWord reads a job number written "#42" or "42".
func parseJobWord(s string) (int64, error) {
	digits := strings.TrimPrefix(s, "#")
	if digits == "" || !allDigits(digits) {
		return 0, fmt.Errorf("%s is not a job number: write it as #42 or 42", quoteWord(s))
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a job number: it is too large", quoteWord(s))
	}
	if n == 0 {
		return 0, fmt.Errorf("%s is not a job number: job numbers start at 1", quoteWord(s))
	}
	return n, nil
}

// parseTailCount reads the N of "--tail N": 1 to 1000 lines.
func parseTailCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || !allDigits(s) || n < 1 || n > maxTail {
		return 0, fmt.Errorf("%s is not a number of lines: --tail takes a number from 1 to %d", quoteWord(s), maxTail)
	}
	return n, nil
}

// validReason checks the free text of "reject" and "lock", already trimmed
// and decoded.
func validReason(s string) error {
	if !utf8.ValidString(s) {
		return errors.New("The reason is not valid UTF-8 text.")
	}
	if n := utf8.RuneCountInString(s); n > maxReasonLen {
		return fmt.Errorf("The reason is %d characters long; keep it to %d.", n, maxReasonLen)
	}
	for _, r := range s {
		if r != '\n' && r != '\t' && unicode.IsControl(r) {
			return fmt.Errorf("The reason contains the control character %s; write it as plain text.", quoteRune(r))
		}
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isASCIIAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

func isLowerAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
}

// quoteWord puts a person's word between “ and ” for a reply, with invalid
// UTF-8 replaced, control, invisible and unusual space characters escaped and anything past
// 60 characters cut to "…", so a reply never carries raw bytes or a
// whole pasted file back.
func quoteWord(s string) string {
	var b strings.Builder
	b.WriteString("“")
	n := 0
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if n == maxQuotedLen {
			b.WriteString("…")
			break
		}
		n++
		if unicode.IsGraphic(r) && (r == ' ' || !unicode.IsSpace(r)) {
			b.WriteRune(r)
			continue
		}
		b.WriteString(escapeRune(r))
	}
	b.WriteString("”")
	return b.String()
}

// quoteRune shows one character in a reply: “x”, "a space", or an escape
// such as \x00 or \u200b for one that cannot be seen.
func quoteRune(r rune) string {
	if r == ' ' {
		return "a space"
	}
	if unicode.IsGraphic(r) && !unicode.IsSpace(r) {
		return "“" + string(r) + "”"
	}
	return escapeRune(r)
}

func escapeRune(r rune) string {
	q := strconv.QuoteRuneToASCII(r) // 'x' with x escaped Go-style
	return q[1 : len(q)-1]
}
