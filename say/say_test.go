package say_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gantry-ci/gantry/say"
)

type names map[string]string

func (n names) Name(ctx context.Context, id string) string { return n[id] }

var ctx = context.Background()

// A reason someone typed, with the markup characters of every surface and a
// mention, shows as they typed it everywhere: escaped in Slack (the
// mention notifies, nothing formats or links), plain in the console, and
// escaped HTML on a page, with the person by name.
func TestTypedTextOnEverySurface(t *testing.T) {
	reason := say.Quote("a<b & *all* of it, ask ") + say.PersonOf("U0BOB") + say.Quote(" <!channel>")
	t.Run("slack", func(t *testing.T) {
		got := reason.Slack()
		want := "a&lt;b &amp; *\u200ball\u200b* of it, ask <@U0BOB> &lt;!channel&gt;"
		if got != want {
			t.Errorf("Slack() = %q, want %q", got, want)
		}
	})
	t.Run("console", func(t *testing.T) {
		got := reason.Console(ctx, names{"U0BOB": "bob"})
		if want := "a<b & *all* of it, ask @bob <!channel>"; got != want {
			t.Errorf("Console() = %q, want %q", got, want)
		}
	})
	t.Run("html", func(t *testing.T) {
		got := reason.HTML(ctx, names{"U0BOB": "Bob O'Neil"})
		if want := "a&lt;b &amp; *all* of it, ask @Bob O&#39;Neil &lt;!channel&gt;"; got != want {
			t.Errorf("HTML() = %q, want %q", got, want)
		}
	})
	t.Run("unknown name", func(t *testing.T) {
		if got := say.PersonOf("U0NEW").Console(ctx, names{}); got != "@U0NEW" {
			t.Errorf("a person with no known name shows as %q, want the id", got)
		}
		if got := say.PersonOf("alice").Slack(); got != "alice" {
			t.Errorf("a console name in Slack shows as %q, want it as it is", got)
		}
	})
}

// Text from outside can never forge a piece: the separator is removed, so a
// reason cannot become a mention or a link.
func TestQuotedTextCannotForgePieces(t *testing.T) {
	forged := say.Quote("x\x1f@UEVIL\x1fy") + say.F("%s and %q", "\x1f>http://evil\x1f", "\x1f#C1\x1f")
	for _, p := range forged.Pieces() {
		if p.Kind == say.Person || p.Kind == say.Link || p.Kind == say.Channel {
			t.Errorf("quoted text made a %v piece %q", p.Kind, p.S)
		}
	}
	if got := forged.Slack(); strings.Contains(got, "<@") || strings.Contains(got, "<http") || strings.Contains(got, "<#") {
		t.Errorf("Slack() = %q", got)
	}
}

func TestFQuotesWhatComesFromOutside(t *testing.T) {
	got := say.F("%s: %q by %s (%v, %d)", "*env*", "ref<1>", say.PersonOf("U01"), errors.New("a & b"), 3)
	if want := "*env*: \"ref&lt;1&gt;\" by <@U01> (a &amp; b, 3)"; got.Slack() != strings.Replace(want, "*env*", "*\u200benv\u200b*", 1) {
		t.Errorf("Slack() = %q", got.Slack())
	}
	if got.String() != `*env*: "ref<1>" by @U01 (a & b, 3)` {
		t.Errorf("String() = %q", got.String())
	}
	if p := got.People(); len(p) != 1 || p[0] != "U01" {
		t.Errorf("People() = %q", p)
	}
}

// Marks inside words (my_repo_name) are left alone: they format nothing in
// Slack, and names must stay copyable.
func TestUnformatLeavesMarksInsideWords(t *testing.T) {
	for in, want := range map[string]string{
		"my_repo_name": "my_repo_name",
		"_x_":          "_\u200bx\u200b_",
		"a ~b~ c":      "a ~\u200bb\u200b~ c",
		"`rm -rf`":     "`\u200brm -rf\u200b`",
		"2*3*4":        "2*3*4",
	} {
		if got := say.Quote(in).Slack(); got != want {
			t.Errorf("Quote(%q).Slack() = %q, want %q", in, got, want)
		}
	}
}

func TestOtherPieces(t *testing.T) {
	t1 := say.F("see %s in %s for %s:\n%s", say.LinkTo("https://g.example/jobs/1?a=1&b=2"), say.ChannelOf("C01"), say.GroupOf("S01"), say.Code("x < y\n*z*"))
	want := "see <https://g.example/jobs/1?a=1&amp;b=2> in <#C01> for <!subteam^S01>:\n```\nx &lt; y\n*z*\n```"
	if got := t1.Slack(); got != want {
		t.Errorf("Slack() = %q, want %q", got, want)
	}
	if got, want := t1.Console(ctx, nil), "see https://g.example/jobs/1?a=1&b=2 in #C01 for @S01:\nx < y\n*z*"; got != want {
		t.Errorf("Console() = %q, want %q", got, want)
	}
	var b say.Builder
	b.F("%d jobs", 2)
	b.Add(" by " + say.PersonOf("U01"))
	if got := say.Join([]say.Text{b.Text(), "done"}, "; ").Slack(); got != "2 jobs by <@U01>; done" {
		t.Errorf("Builder and Join: %q", got)
	}
}

func TestIsSlackUser(t *testing.T) {
	for id, want := range map[string]bool{"U0ALICE": true, "W123": true, "U1": false, "alice": false, "Ualice": false, "S012": false} {
		if say.IsSlackUser(id) != want {
			t.Errorf("IsSlackUser(%q) = %v", id, !want)
		}
	}
}
