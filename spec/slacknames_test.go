package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var workspace = &Workspace{
	Users: []WorkspaceUser{
		{ID: "U0ALICE", Handle: "alice", DisplayName: "Alice Liddell"},
		{ID: "U0BOB", Handle: "bob.k", DisplayName: "Bob"},
		{ID: "U0BOB2", Handle: "bob.m", DisplayName: "bob"},
		{ID: "U0CAROL", Handle: "carol", DisplayName: ""},
	},
	Groups:   []WorkspaceGroup{{ID: "S0REL", Handle: "releasers"}},
	Channels: []WorkspaceChannel{{ID: "C0DEPLOY", Name: "deploys"}, {ID: "G0OPS", Name: "ops-private"}},
}

const namedConfig = `repos:
  hello:
    path: .
    channel: '#deploys'
    builders: ['@carol', U0ALICE]
admins: ['@Alice']
environments:
  prod:
    approval: true
    approvers: ['@releasers', '@alice liddell', '@alice']
    deployers: ['*']
users:
  octocat: '@carol'
web:
  public_channels: ['#ops-private']
schedules:
  nightly: {cron: '@daily', repo: hello, pipeline: build}
`

// TestSlackNamesInConfigResolveToIDs: @names by handle or display name,
// @group handles and #channels become the IDs the rest of gantry
// compares with, wherever gantry.yml takes a person, group or channel.
func TestSlackNamesInConfigResolveToIDs(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte(namedConfig))
	if err != nil {
		t.Fatal(err)
	}
	if people, channels := s.NeedsWorkspace(); !people || !channels {
		t.Errorf("NeedsWorkspace = %v, %v; want both", people, channels)
	}
	if got := s.Names()[0]; got != (Name{Text: "#deploys", Kind: NameChannel, Line: 4, Subject: `channel in repo "hello"`}) {
		t.Errorf("first name = %+v", got)
	}
	r, err := s.ResolveNames(workspace)
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want any) {
		t.Helper()
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", what, d)
		}
	}
	check("channel", r.Repos["hello"].Channel, "C0DEPLOY")
	check("builders", r.Repos["hello"].Builders, []string{"U0CAROL", "U0ALICE"})
	check("admins", r.Admins, []string{"U0ALICE"})
	// Two ways of writing alice count once.
	check("approvers", r.Environments["prod"].Approvers, []string{"S0REL", "U0ALICE"})
	check("deployers", r.Environments["prod"].Deployers, []string{"*"})
	check("users", r.Users, map[string]string{"octocat": "U0CAROL"})
	check("public channels", r.Web.PublicChannels, []string{"G0OPS"})
	check("schedule channel", r.Schedules[0].Channel, "C0DEPLOY")
	check("names left", len(r.Names()), 0)
	// The parsed config is left as written.
	check("original admins", s.Admins, []string{"@Alice"})
}

// TestNamesByDisplayNameAreSaid: a display name is its owner's to change
// (and, once changed, anyone's to take), so a person written by one is
// named with the handle and ID that do not move; handles, groups and
// channels are not.
func TestNamesByDisplayNameAreSaid(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte(namedConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`gantry.yml:10: approvers in environment "prod": @alice liddell is the display name of user @alice, which they (or, once they change it, someone else) may change; write @alice or U0ALICE`}
	if d := cmp.Diff(want, s.ByDisplayName(workspace)); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestUnknownSlackNameIsAProblemWithFileLine: each name that is not
// there, or could be several people, is one problem at its line, with a
// suggestion where one is near.
func TestUnknownSlackNameIsAProblemWithFileLine(t *testing.T) {
	cfg := `repos:
  a: {path: ., channel: '#deploy'}
  b: {path: ., channel: '#deploys'}
  c: {path: ., channel: C0DEPLOY}
admins: ['@alic', '@bob', '@nobody-at-all']
users:
  octo: '@releasers'
`
	s, err := ParseServer("gantry.yml", []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ResolveNames(workspace)
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{
		`gantry.yml:2: channel in repo "a": no Slack channel #deploy that gantry can see (a private channel must have gantry invited; an archived one is left out) — did you mean #deploys?`,
		`gantry.yml:3: channel in repo "c": #deploys and C0DEPLOY are the same channel (C0DEPLOY): a channel has one default repo`,
		`gantry.yml:5: admins: no Slack user or user group @alic in this workspace (by handle or display name) — did you mean @alice?`,
		`gantry.yml:5: admins: @bob could be any of user @bob.k ("Bob") U0BOB, user @bob.m ("bob") U0BOB2: write the one you mean by its ID`,
		`gantry.yml:5: admins: no Slack user or user group @nobody-at-all in this workspace (by handle or display name)`,
		`gantry.yml:7: users: octo: no Slack user @releasers in this workspace (by handle or display name)`,
	}
	if d := cmp.Diff(want, strings.Split(err.Error(), "\n")); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}

// TestConsoleNamesAreLocalUsers: without Slack, @alice is the console's
// user alice ($USER); channels stay as written.
func TestConsoleNamesAreLocalUsers(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte(namedConfig))
	if err != nil {
		t.Fatal(err)
	}
	c := s.ConsoleNames()
	if d := cmp.Diff([]string{"releasers", "alice liddell", "alice"}, c.Environments["prod"].Approvers); d != "" {
		t.Errorf("approvers (-want +got):\n%s", d)
	}
	if c.Admins[0] != "Alice" || c.Repos["hello"].Channel != "#deploys" {
		t.Errorf("admins %v, channel %q", c.Admins, c.Repos["hello"].Channel)
	}
}
