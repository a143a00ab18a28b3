package slackserver

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// WaitFor waits until cond(s) holds, re-checking whenever the server's state
// changes, and fails tb with what (and a summary of the server's state) when
// timeout passes first. Call it from the test's goroutine.
func (s *Server) WaitFor(tb testing.TB, timeout time.Duration, what string, cond func(*Server) bool) {
	tb.Helper()
	if !s.wait(timeout, cond) {
		tb.Fatalf("slackserver: timed out after %v waiting for %s\n%s", timeout, what, s.Summary())
	}
}

// wait reports whether cond held before timeout.
func (s *Server) wait(timeout time.Duration, cond func(*Server) bool) bool {
	return s.changes.Wait(timeout, func() bool { return cond(s) })
}

// WaitConnection waits until the n-th Socket Mode connection (1 for the
// first) has been established and greeted with hello.
func (s *Server) WaitConnection(tb testing.TB, n int, timeout time.Duration) {
	tb.Helper()
	s.WaitFor(tb, timeout, fmt.Sprintf("Socket Mode connection %d", n), func(s *Server) bool {
		return s.ConnectionCount() >= n
	})
}

// WaitAck waits for the first ack of envelopeID that Slack would accept
// (smaller than MaxAckSize) and returns it.
func (s *Server) WaitAck(tb testing.TB, envelopeID string, timeout time.Duration) Ack {
	tb.Helper()
	var got Ack
	ok := s.wait(timeout, func(s *Server) bool {
		for _, a := range s.AcksFor(envelopeID) {
			if !a.Dropped {
				got = a
				return true
			}
		}
		return false
	})
	if !ok {
		why := ""
		for _, a := range s.AcksFor(envelopeID) {
			why += fmt.Sprintf("\nan ack of %d bytes came at %s, but Slack drops frames of %d bytes or more",
				a.Size, a.At.Format(time.StampMicro), MaxAckSize)
		}
		tb.Fatalf("slackserver: timed out after %v waiting for the ack of envelope %s%s\n%s", timeout, envelopeID, why, s.Summary())
	}
	return got
}

// WaitCalls waits until method has been called at least n times and returns
// the calls.
func (s *Server) WaitCalls(tb testing.TB, method string, n int, timeout time.Duration) []Call {
	tb.Helper()
	s.WaitFor(tb, timeout, fmt.Sprintf("%d calls of %s", n, method), func(s *Server) bool {
		return s.CallCount(method) >= n
	})
	return s.Calls(method)
}

// WaitMessage waits for a message in channel (not deleted, top-level or
// reply) for which match returns true, and returns it.
func (s *Server) WaitMessage(tb testing.TB, channel string, timeout time.Duration, match func(Message) bool) Message {
	tb.Helper()
	var got Message
	s.WaitFor(tb, timeout, "a matching message in "+channel, func(s *Server) bool {
		for _, m := range s.Messages(channel) {
			if match(m) {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// WaitEphemeral waits for an ephemeral message to user for which match
// returns true, and returns it.
func (s *Server) WaitEphemeral(tb testing.TB, user string, timeout time.Duration, match func(Ephemeral) bool) Ephemeral {
	tb.Helper()
	var got Ephemeral
	s.WaitFor(tb, timeout, "a matching ephemeral message to "+user, func(s *Server) bool {
		for _, e := range s.Ephemerals(user) {
			if match(e) {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// Summary describes the server's state for failure messages: connections,
// envelopes and acks, the last calls, and the messages per channel.
func (s *Server) Summary() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "connections: %d established, %d open; envelopes: %d (%d waiting); acks: %d\n",
		s.connTotal, len(s.conns), len(s.envelopes), len(s.pending), len(s.acks))
	start := max(0, len(s.calls)-15)
	fmt.Fprintf(&b, "last %d of %d calls:\n", len(s.calls)-start, len(s.calls))
	for _, c := range s.calls[start:] {
		fmt.Fprintf(&b, "  %s %s %s status=%d %s\n", c.At.Format("15:04:05.000"), c.Method, shorten(c.Args.Encode(), 160), c.Status, c.Error)
	}
	for _, ch := range slices.Sorted(maps.Keys(s.messages)) {
		fmt.Fprintf(&b, "channel %s:\n", ch)
		for _, m := range s.messages[ch] {
			state := ""
			if m.Deleted {
				state = " (deleted)"
			}
			fmt.Fprintf(&b, "  ts=%s thread=%s user=%s%s: %s\n", m.TS, m.ThreadTS, m.User, state,
				shorten(strings.ReplaceAll(m.VisibleText(), "\n", " | "), 160))
		}
	}
	for _, e := range s.ephemerals {
		fmt.Fprintf(&b, "ephemeral to %s in %s: %s\n", e.User, e.Channel, shorten(e.VisibleText(), 160))
	}
	return b.String()
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}
