package slack

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/internal/slackserver"
)

func TestGroupsByIDAndHandleAreCached(t *testing.T) {
	srv := slackserver.New(t)
	srv.SetUserGroup("S0REL", "U01", "U02")
	srv.SetUserGroupHandle("S0REL", "releasers")
	srv.SetUserGroup("S0OPS", "U03")
	s := newTestSurface(t, srv, SurfaceConfig{})
	g := NewGroups(s.api, s.sched, time.Hour)
	clock := time.Now()
	g.now = func() time.Time { return clock }
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		got, err := g.Members(ctx, "S0REL")
		if err != nil || !slices.Equal(got, []string{"U01", "U02"}) {
			t.Fatalf("members of S0REL = %v, %v", got, err)
		}
		got, err = g.Members(ctx, "S-releasers")
		if err != nil || !slices.Equal(got, []string{"U01", "U02"}) {
			t.Fatalf("members of S-releasers = %v, %v", got, err)
		}
	}
	if n := srv.CallCount("usergroups.users.list"); n != 1 {
		t.Errorf("usergroups.users.list called %d times, want once within the cache time", n)
	}
	if n := srv.CallCount("usergroups.list"); n != 1 {
		t.Errorf("usergroups.list called %d times, want once", n)
	}
	// After the cache time, members are asked for again.
	srv.SetUserGroup("S0REL", "U01")
	clock = clock.Add(2 * time.Hour)
	if got, _ := g.Members(ctx, "S0REL"); !slices.Equal(got, []string{"U01"}) {
		t.Errorf("after the cache time: %v", got)
	}
	if _, err := g.Members(ctx, "S-nobody"); err == nil || !strings.Contains(err.Error(), "no user group @nobody") {
		t.Errorf("an unknown handle: %v", err)
	}
	if _, err := g.Members(ctx, "S0NONE"); errorCode(err) != "no_such_subteam" {
		t.Errorf("an unknown group: %v", err)
	}
	// The rule the handlers use.
	ok, err := commands.IsOneOf(ctx, g, "U03", []string{"U09", "S0OPS"})
	if err != nil || !ok {
		t.Errorf("U03 in S0OPS: %v, %v", ok, err)
	}
}
