package slack

import (
	"context"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
)

// Membership tells whether gantry's bot is in a channel, so that a slash
// command typed where the bot cannot post (a channel it was never invited
// to, a direct message between two people) is answered at once instead of
// queuing a job whose thread nobody would see. Answers are cached.
type Membership struct {
	api   WebAPI
	sched *Scheduler
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	cache   map[string]membership
	looking flights[bool]
}

type membership struct {
	in   bool
	when time.Time
}

// NewMembership returns a membership check; ttl 0 is 5 minutes.
func NewMembership(api WebAPI, sched *Scheduler, ttl time.Duration) *Membership {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &Membership{api: api, sched: sched, ttl: ttl, now: time.Now, cache: map[string]membership{}}
}

// In reports whether the bot is in channel. On an error it says yes (and
// returns the error): a failed look-up must not stop people's work.
func (m *Membership) In(ctx context.Context, channel string) (bool, error) {
	m.mu.Lock()
	c, ok := m.cache[channel]
	m.mu.Unlock()
	if ok && m.now().Sub(c.when) < m.ttl {
		return c.in, nil
	}
	return m.looking.do(channel, func() (bool, error) { return m.lookUp(ctx, channel) })
}

func (m *Membership) lookUp(ctx context.Context, channel string) (bool, error) {
	var info *goslack.Channel
	err := m.sched.Do(ctx, MethodChannelInfo, "", func(ctx context.Context, _ int) error {
		var err error
		info, err = m.api.GetConversationInfoContext(ctx, &goslack.GetConversationInfoInput{ChannelID: channel})
		return err
	})
	in := true
	switch {
	case err == nil && info.IsIM:
		in = true // the bot's own direct messages: it can see them, so it is in them
	case err == nil:
		in = info.IsMember
	case errorCode(err) == "channel_not_found":
		in, err = false, nil // a conversation the bot cannot see at all
	default:
		return true, err
	}
	m.mu.Lock()
	m.cache[channel] = membership{in: in, when: m.now()}
	m.mu.Unlock()
	return in, nil
}

// Forget drops what is known of channel (the bot was invited or removed).
func (m *Membership) Forget(channel string) {
	m.mu.Lock()
	delete(m.cache, channel)
	m.mu.Unlock()
}
