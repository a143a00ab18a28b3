// Package say is what gantry says to people, kept free of any surface's
// markup, and its rendering for each surface.
//
// A Text is gantry's own words with three kinds of pieces in them: a
// person (a user id, or a console name), a channel (an id), and verbatim
// text that came from outside (a reason someone typed, a step name from a
// repository, a ref). Records, events, reasons and the audit log keep Text;
// each surface renders it when it shows it:
//
//   - Slack: mrkdwn, with mentions for people and channels, and verbatim
//     text escaped so that none of it is read as markup;
//   - the console: plain text, people by name;
//   - HTML: escaped, people by name.
//
// Pieces are written in the string between two U+001F (unit separator)
// characters, which no piece of text from outside can hold: Quote and F
// remove them. A Text is therefore safe to keep as a string in Redis.
package say

import (
	"context"
	"fmt"
	"html"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Text is what gantry says: see the package documentation. Convert a
// string to Text only when the string is gantry's own words; text from
// outside goes through Quote or F.
type Text string

const sep = '\x1f'

// Kinds of a Text's pieces.
const (
	Own      Kind = iota // gantry's own words
	Person               // a person: a Slack user id, or a console name
	Channel              // a channel id
	Verbatim             // text from outside, shown as it is
	Group                // a group of people: a Slack user group id
	Block                // lines from outside shown as a block (log lines)
	Link                 // a URL
)

// Kind says what a piece of a Text is.
type Kind int

// Piece is one part of a Text.
type Piece struct {
	Kind Kind
	S    string
}

var clean = strings.NewReplacer(string(sep), "")

// piece writes s as a piece of kind tag; an empty s is no piece at all.
func piece(tag byte, s string) Text {
	if s == "" {
		return ""
	}
	return Text(string(sep) + string(tag) + clean.Replace(s) + string(sep))
}

// Quote is text from outside, shown as it is on every surface.
func Quote(s string) Text { return piece('"', s) }

// PersonOf is a person: a Slack user id, or a console name.
func PersonOf(id string) Text { return piece('@', id) }

// ChannelOf is a channel, by id.
func ChannelOf(id string) Text { return piece('#', id) }

// Code is lines from outside (log lines) shown as a block of code.
func Code(s string) Text { return piece('`', s) }

// LinkTo is a URL, shown so that people can open it.
func LinkTo(url string) Text { return piece('>', url) }

// GroupOf is a group of people, by its Slack user group id.
func GroupOf(id string) Text { return piece('^', id) }

// F formats like fmt.Sprintf, for gantry's own words in format. Arguments
// that are Text are put in as they are; strings, errors and other values
// that print themselves are quoted (see Quote); numbers are formatted as
// fmt does.
func F(format string, args ...any) Text {
	conv := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case Text:
			conv[i] = string(v)
		case string:
			conv[i] = quoted(v)
		case error:
			conv[i] = quoted(v.Error())
		case fmt.Stringer:
			conv[i] = quoted(v.String())
		default:
			conv[i] = a
		}
	}
	return Text(fmt.Sprintf(clean.Replace(format), conv...))
}

// quoted is a value from outside in F: formatted with its verb (%q puts
// quotes around it), then made a verbatim piece.
type quoted string

func (q quoted) Format(f fmt.State, verb rune) {
	io.WriteString(f, string(Quote(fmt.Sprintf(fmt.FormatString(f, verb), string(q)))))
}

// Join puts texts together with between.
func Join(texts []Text, between string) Text {
	parts := make([]string, len(texts))
	for i, t := range texts {
		parts[i] = string(t)
	}
	return Text(strings.Join(parts, clean.Replace(between)))
}

// Pieces splits t into its pieces, in order.
func (t Text) Pieces() []Piece {
	var out []Piece
	s := string(t)
	for s != "" {
		i := strings.IndexByte(s, sep)
		if i < 0 {
			out = append(out, Piece{Own, s})
			break
		}
		if i > 0 {
			out = append(out, Piece{Own, s[:i]})
		}
		rest := s[i+1:]
		j := strings.IndexByte(rest, sep)
		if j < 1 { // an unclosed or empty piece: the rest is words
			out = append(out, Piece{Own, clean.Replace(rest)})
			break
		}
		body := rest[1:j]
		switch rest[0] {
		case '@':
			out = append(out, Piece{Person, body})
		case '#':
			out = append(out, Piece{Channel, body})
		case '^':
			out = append(out, Piece{Group, body})
		case '`':
			out = append(out, Piece{Block, body})
		case '>':
			out = append(out, Piece{Link, body})
		default:
			out = append(out, Piece{Verbatim, body})
		}
		s = rest[j+1:]
	}
	return out
}

// People are the persons t names, in order, each once.
func (t Text) People() []string {
	var out []string
	for _, p := range t.Pieces() {
		if p.Kind == Person && !contains(out, p.S) {
			out = append(out, p.S)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// String is t as plain text with people and channels as their ids: for
// logs and errors. People read t through a surface's rendering.
func (t Text) String() string { return t.Console(context.Background(), nil) }

// IsSlackUser reports whether id is a Slack user id (U… or W…, upper case
// letters and digits). It is gantry's one rule for telling a Slack user from
// a console name.
func IsSlackUser(id string) bool {
	if len(id) < 3 || (id[0] != 'U' && id[0] != 'W') {
		return false
	}
	for _, r := range id[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// Names gives people's display names; an implementation answers "" for a
// person it does not know.
type Names interface {
	Name(ctx context.Context, id string) string
}

func name(ctx context.Context, names Names, id string) string {
	if names != nil && IsSlackUser(id) {
		if n := names.Name(ctx, id); n != "" {
			return "@" + n
		}
	}
	if IsSlackUser(id) {
		return "@" + id
	}
	return id
}

// Console renders t for a terminal: no markup, people by name.
func (t Text) Console(ctx context.Context, names Names) string {
	var b strings.Builder
	for _, p := range t.Pieces() {
		switch p.Kind {
		case Person:
			b.WriteString(name(ctx, names, p.S))
		case Channel:
			b.WriteString("#" + p.S)
		case Group:
			b.WriteString("@" + p.S)
		default:
			b.WriteString(p.S)
		}
	}
	return b.String()
}

// HTML renders t as escaped HTML text, people by name.
func (t Text) HTML(ctx context.Context, names Names) string {
	return html.EscapeString(t.Console(ctx, names))
}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Slack renders t as Slack mrkdwn: gantry's words as they are written
// (escaped where Slack reads &, < and > as markup), people and channels as
// mentions, and verbatim text escaped so that nothing in it formats, links
// or notifies.
func (t Text) Slack() string {
	var b strings.Builder
	for _, p := range t.Pieces() {
		switch p.Kind {
		case Person:
			if IsSlackUser(p.S) {
				b.WriteString("<@" + p.S + ">")
			} else {
				b.WriteString(slackEscaper.Replace(p.S))
			}
		case Channel:
			b.WriteString("<#" + p.S + ">")
		case Group:
			b.WriteString("<!subteam^" + p.S + ">")
		case Verbatim:
			b.WriteString(unformat(slackEscaper.Replace(p.S)))
		case Link:
			b.WriteString("<" + slackEscaper.Replace(p.S) + ">")
		case Block:
			b.WriteString("```\n" + slackEscaper.Replace(p.S) + "\n```")
		default:
			b.WriteString(slackEscaper.Replace(p.S))
		}
	}
	return b.String()
}

// zwsp is a zero-width space: put beside a formatting mark, it stops Slack
// from reading the mark while the text looks the same.
const zwsp = "\u200b"

// unformat keeps Slack from reading *bold*, _italic_, ~strike~ and `code`
// in s: a mark at the edge of a word gets a zero-width space on its inner
// side. A mark inside a word (my_repo_name) formats nothing and is left.
func unformat(s string) string {
	if !strings.ContainsAny(s, "*_~`") {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		if !strings.ContainsRune("*_~`", r) {
			b.WriteRune(r)
			continue
		}
		before, _ := utf8.DecodeLastRuneInString(s[:i])
		after, _ := utf8.DecodeRuneInString(s[i+1:])
		wordBefore := i > 0 && isWord(before)
		wordAfter := i+1 < len(s) && isWord(after)
		switch {
		case wordBefore && wordAfter:
			b.WriteRune(r)
		case wordBefore: // a closing mark
			b.WriteString(zwsp)
			b.WriteRune(r)
		default: // an opening mark, or one alone
			b.WriteRune(r)
			b.WriteString(zwsp)
		}
	}
	return b.String()
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// MarshalBinary is t as it is kept (Redis clients write it so).
func (t Text) MarshalBinary() ([]byte, error) { return []byte(t), nil }

// Words is s as gantry's own words: for text gantry composed from what it
// knows (help, usage), never for text from outside.
func Words(s string) Text { return Text(clean.Replace(s)) }

// Builder builds a Text piece by piece.
type Builder struct{ b strings.Builder }

// F adds F(format, args...).
func (b *Builder) F(format string, args ...any) { b.b.WriteString(string(F(format, args...))) }

// Add adds t.
func (b *Builder) Add(t Text) { b.b.WriteString(string(t)) }

// Len is the length so far, in bytes.
func (b *Builder) Len() int { return b.b.Len() }

// Text is what was built.
func (b *Builder) Text() Text { return Text(b.b.String()) }
