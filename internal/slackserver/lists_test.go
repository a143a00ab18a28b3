package slackserver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/slack-go/slack"
)

// TestUsersListPagesWithCursor: slack-go's paginated users.list walks every
// page by next_cursor, and the limits answer the sixth quick call with 429.
func TestUsersListPagesWithCursor(t *testing.T) {
	srv := New(t)
	for i := range 5 {
		srv.AddUser(User{ID: fmt.Sprintf("U%02d", i), Name: fmt.Sprintf("user%d", i), DisplayName: fmt.Sprintf("User %d", i)})
	}
	api := newAPI(srv)
	var got []string
	p := api.GetUsersPaginated(slack.GetUsersOptionLimit(2))
	var err error
	for {
		if p, err = p.Next(context.Background()); err != nil {
			break
		}
		for _, u := range p.Users {
			got = append(got, u.ID+" "+u.Name+" "+u.Profile.DisplayName)
		}
	}
	if err = p.Failure(err); err != nil {
		t.Fatal(err)
	}
	want := []string{"U00 user0 User 0", "U01 user1 User 1", "U02 user2 User 2", "U03 user3 User 3", "U04 user4 User 4", BotUserID + " " + BotName + " "}
	if !slices.Equal(got, want) {
		t.Errorf("users = %q, want %q", got, want)
	}
	calls := srv.Calls("users.list")
	if len(calls) != 3 || calls[0].Args.Get("cursor") != "" || calls[1].Args.Get("cursor") == "" || calls[1].Args.Get("limit") != "2" {
		t.Errorf("calls = %+v", calls)
	}
	// Tier 2: a burst of 5, then 429 with Retry-After.
	for range 2 {
		if _, err := api.GetUsersPaginated().Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_, err = api.GetUsersPaginated().Next(context.Background())
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Errorf("sixth users.list: %v, want a RateLimitedError", err)
	}
	if _, err := api.GetUsersPaginated(slack.GetUsersOptionCursor("bogus")).Next(context.Background()); err == nil {
		t.Error("a cursor the server never gave was accepted")
	}
}

// TestConversationsListTypesAndPages: conversations.list gives the types
// asked for, private channels only where the bot is, a page at a time.
func TestConversationsListTypesAndPages(t *testing.T) {
	srv := New(t)
	srv.AddChannel(Channel{ID: "C01", Name: "general"})
	srv.AddChannel(Channel{ID: "C02", Name: "old", Archived: true})
	srv.AddChannel(Channel{ID: "G01", Name: "ops", IsPrivate: true})
	srv.AddChannel(Channel{ID: "G02", Name: "secret", IsPrivate: true, NotMember: true})
	srv.AddChannel(Channel{ID: "D01", IsIM: true, User: "U01"})
	api := newAPI(srv)
	list := func(params slack.GetConversationsParameters) []string {
		t.Helper()
		var out []string
		for {
			chans, next, err := api.GetConversations(&params)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range chans {
				out = append(out, c.ID+" "+c.Name)
			}
			if next == "" {
				return out
			}
			params.Cursor = next
		}
	}
	if got, want := list(slack.GetConversationsParameters{}), []string{"C01 general", "C02 old"}; !slices.Equal(got, want) {
		t.Errorf("default types: %q, want %q", got, want)
	}
	got := list(slack.GetConversationsParameters{Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: 1})
	if want := []string{"C01 general", "G01 ops"}; !slices.Equal(got, want) {
		t.Errorf("public and private, no archived: %q, want %q", got, want)
	}
	if n := len(srv.Calls("conversations.list")); n != 3 {
		t.Errorf("%d calls, want 3 (one, then two pages of one)", n)
	}
	if _, _, err := api.GetConversations(&slack.GetConversationsParameters{Types: []string{"rooms"}}); err == nil || err.Error() != "invalid_types" {
		t.Errorf("bad types: %v", err)
	}
}
