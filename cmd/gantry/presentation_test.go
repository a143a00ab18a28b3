package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// A reason typed in Slack with <, &, * and a mention is kept as it was
// meant, and each surface shows it its way: Slack escaped (the mention a
// mention, nothing formatted), the console plain with names, and the job
// page escaped HTML with names.
func TestTypedReasonShowsCorrectlyInSlackConsoleAndPage(t *testing.T) {
	s := newSlackSession(t)
	cfg, err := os.ReadFile(s.env["GANTRY_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "environments:\n  production:\n    deployers: ["+alice+"]\n    approvers: ["+bob+"]\n"...)
	if err := os.WriteFile(s.env["GANTRY_CONFIG"], cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	s.srv.AddUser(slackserver.User{ID: alice, Name: "alice", RealName: "Alice Liddell"})
	s.srv.AddUser(slackserver.User{ID: bob, Name: "bob", DisplayName: "Bob <the builder>"})
	s.srv.AddUser(slackserver.User{ID: admin, Name: "root", DisplayName: "Ada & co"})
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)

	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "deploy production", UserID: alice, ChannelID: chHello})
	s.card(chHello, 1, "awaiting_approval", time.Minute)
	// Slack sends what Bob typed with its own escapes and the mention as markup.
	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "reject #1 not now <@U0ADMIN|root>: a&lt;b &amp; *all* of it", UserID: bob, ChannelID: chHello})
	card := s.card(chHello, 1, "cancelled", time.Minute)

	// Slack: the reason escaped, the people as mentions, no bold.
	want := "rejected by <@U0BOB>: not now <@U0ADMIN>: a&lt;b &amp; *\u200ball\u200b* of it"
	if !strings.Contains(card.VisibleText(), want) {
		t.Errorf("Slack card:\n%s\nwant it to contain %q", card.VisibleText(), want)
	}

	// The page: escaped HTML, people by their display names.
	m := regexp.MustCompile(`<(http[^|>]+)\|Job page>`).FindStringSubmatch(card.VisibleText())
	if m == nil {
		t.Fatalf("the card has no link to the job page:\n%s", card.VisibleText())
	}
	page := fetch(t, strings.ReplaceAll(m[1], "&amp;", "&"))
	wantHTML := "rejected by @Bob &lt;the builder&gt;: not now @Ada &amp; co: a&lt;b &amp; *all* of it"
	if !strings.Contains(page, wantHTML) {
		t.Errorf("the job page does not show the reason as %q:\n%s", wantHTML, between(page, `id="reason"`, "</span>"))
	}
	if !strings.Contains(page, "by @Alice Liddell") {
		t.Errorf("the job page does not name the requester by name:\n%s", between(page, "<header", "</header>"))
	}

	// The console, on the same Redis: plain text, names that serving Slack read.
	c, stop := startConsoleOn(t, map[string]string{}, s.rdb.URL())
	defer stop()
	c.typeLine("status #1")
	c.waitFor(regexp.QuoteMeta("rejected by @Bob <the builder>: not now @Ada & co: a<b & *all* of it"), 20*time.Second)
	if out := c.out.String(); strings.Contains(out, "&lt;") || strings.Contains(out, "<@") || strings.Contains(out, "\u200b") {
		t.Errorf("the console shows markup:\n%s", out)
	}
}

// A deploy that needs approval asks its approvers in its thread, by name,
// with the buttons to decide; the request is posted once, and an approver's
// click on it deploys.
func TestApprovalRequestMentionsTheApprovers(t *testing.T) {
	s := newSlackSession(t)
	cfg, err := os.ReadFile(s.env["GANTRY_CONFIG"])
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, "environments:\n  production:\n    deployers: ["+alice+"]\n    approvers: ["+bob+", S0RELEASE]\n"...)
	if err := os.WriteFile(s.env["GANTRY_CONFIG"], cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	s.srv.SetUserGroup("S0RELEASE", bob)
	s.start("serve")
	s.srv.WaitConnection(t, 1, 20*time.Second)

	s.srv.SendSlashCommand(slackserver.SlashCommand{Text: "deploy production", UserID: alice, ChannelID: chHello})
	card := s.card(chHello, 1, "awaiting_approval", time.Minute)
	ask := s.srv.WaitMessage(t, chHello, 30*time.Second, func(m slackserver.Message) bool {
		return m.ThreadTS == card.TS && strings.Contains(m.Text, "needs approval")
	})
	for _, want := range []string{"#1 needs approval from <@U0BOB>, <!subteam^S0RELEASE>: deploy to production hello@main", "asked by <@U0ALICE>"} {
		if !strings.Contains(ask.Text, want) {
			t.Errorf("the approval request %q lacks %q", ask.Text, want)
		}
	}
	if got := buttonLabels(ask); got != "Approve,Reject" {
		t.Errorf("the approval request's buttons are %s, want Approve,Reject", got)
	}
	s.srv.SendBlockAction(slackserver.BlockAction{Channel: chHello, MessageTS: ask.TS, User: bob, ActionID: "approve"})
	s.card(chHello, 1, "succeeded", time.Minute)
	asked := 0
	for _, m := range s.srv.Thread(chHello, card.TS) {
		if m.FromBot() && strings.Contains(m.Text, "needs approval") {
			asked++
		}
	}
	if asked != 1 {
		t.Errorf("the approval request was posted %d times, want once", asked)
	}
}
