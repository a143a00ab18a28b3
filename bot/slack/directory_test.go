package slack

import (
	"context"
	"fmt"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// TestReadWorkspaceReadsEveryPage: users and channels come a page at a
// time; a 429 in the middle is waited out and the walk goes on from the
// page it was at; deleted users, bots, archived channels and private
// channels without the bot are left out.
func TestReadWorkspaceReadsEveryPage(t *testing.T) {
	// users.list one a second, so that the walk meets Slack's 429.
	srv := slackserver.New(t, slackserver.WithRateLimits(map[string]slackserver.Limit{"users.list": {PerMinute: 60, Burst: 1}}))
	for i := range 450 {
		srv.AddUser(slackserver.User{ID: fmt.Sprintf("U%04d", i), Name: fmt.Sprintf("user%d", i), Deleted: i%100 == 7, IsBot: i%100 == 8})
	}
	for i := range 250 {
		srv.AddChannel(slackserver.Channel{ID: fmt.Sprintf("C%04d", i), Name: fmt.Sprintf("ch-%d", i), Archived: i == 3})
	}
	srv.AddChannel(slackserver.Channel{ID: "G0001", Name: "ops", IsPrivate: true})
	srv.AddChannel(slackserver.Channel{ID: "G0002", Name: "hr", IsPrivate: true, NotMember: true})
	srv.SetUserGroup("S0REL", "U0001")
	srv.SetUserGroupHandle("S0REL", "releasers")
	api := goslack.New(slackserver.BotToken, goslack.OptionAPIURL(srv.APIURL()))
	// The scheduler's own Tier 2 pace would only slow the test down: the
	// server's limit is what it must cope with here.
	fast := Limit{PerMinute: 600, Burst: 10}
	sched := NewScheduler(SchedulerConfig{Backoff: 10 * time.Millisecond, Logger: quiet, Limits: map[string]Limit{MethodUsers: fast, MethodChannels: fast}})
	t.Cleanup(sched.Close)

	w, err := ReadWorkspace(context.Background(), api, sched, true, true)
	if err != nil {
		t.Fatal(err)
	}
	// 450 users and the bot, less 5 deleted and 5 bots and the bot itself.
	if len(w.Users) != 440 || w.Users[0].ID != "U0000" || w.Users[0].Handle != "user0" {
		t.Errorf("%d users, first %+v; want 440 from U0000", len(w.Users), w.Users[0])
	}
	seen := map[string]bool{}
	for _, u := range w.Users {
		if seen[u.ID] {
			t.Fatalf("user %s read twice", u.ID)
		}
		seen[u.ID] = true
	}
	if len(w.Groups) != 1 || w.Groups[0] != (struct{ ID, Handle string }{"S0REL", "releasers"}) {
		t.Errorf("groups = %+v", w.Groups)
	}
	if len(w.Channels) != 250 || w.Channels[249].Name != "ops" {
		t.Errorf("%d channels, last %+v; want 249 public and ops", len(w.Channels), w.Channels[len(w.Channels)-1])
	}
	calls := srv.Calls("users.list")
	ok, throttled := 0, 0
	for i, c := range calls {
		switch {
		case c.Status == 200:
			ok++
		case c.Throttled && i+1 < len(calls) && calls[i+1].Args.Get("cursor") == c.Args.Get("cursor"):
			throttled++ // tried again at the same page
		default:
			t.Errorf("users.list call %d: %+v", i, c)
		}
	}
	if ok != 3 || throttled == 0 {
		t.Errorf("users.list: %d pages read and %d 429s waited out; want 3 pages and at least one 429", ok, throttled)
	}
	if n := srv.CallCount("conversations.list"); n != 2 {
		t.Errorf("%d conversations.list calls, want 2 pages of 200", n)
	}
}
