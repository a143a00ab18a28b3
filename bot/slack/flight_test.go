package slack

import (
	"context"
	"sync"
	"testing"

	"github.com/gantry-ci/gantry/internal/slackserver"
)

// Twenty people typing at once in a channel gantry has not looked at yet
// cost one conversations.info and one conversations.members, not twenty
// of each spaced out by Slack's limits.
func TestLookUpsOfOneChannelAtOnceAskSlackOnce(t *testing.T) {
	srv := slackserver.New(t)
	srv.AddChannel(slackserver.Channel{ID: "C0BUSY", Name: "busy", Members: []string{"U01", "U02"}})
	s := newTestSurface(t, srv, SurfaceConfig{})
	m := NewMembership(s.api, s.sched, 0)
	p := NewPeople(s.api, s.sched, 0)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if in, err := m.In(ctx, "C0BUSY"); err != nil || !in {
				t.Errorf("In = %v, %v", in, err)
			}
		}()
		go func() {
			defer wg.Done()
			if in, err := p.InChannel(ctx, "C0BUSY", "U02"); err != nil || !in {
				t.Errorf("InChannel = %v, %v", in, err)
			}
		}()
	}
	wg.Wait()
	if n := srv.CallCount("conversations.info"); n != 1 {
		t.Errorf("conversations.info called %d times, want once", n)
	}
	if n := srv.CallCount("conversations.members"); n != 1 {
		t.Errorf("conversations.members called %d times, want once", n)
	}
}
