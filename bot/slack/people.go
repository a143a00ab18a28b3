package slack

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"
)

// People answers who is in a channel and whether it is private, for the
// rule of who may see a job: its channel's members see it. Answers are
// cached for a few minutes, so a busy `logs` costs Slack little.
type People struct {
	api   WebAPI
	sched *Scheduler
	ttl   time.Duration
	now   func() time.Time

	mu      sync.Mutex
	members map[string]cachedList
	private map[string]cachedFlag
	reading flights[[]string]
}

type cachedList struct {
	ids  []string
	when time.Time
}

type cachedFlag struct {
	v    bool
	when time.Time
}

// maxMembers bounds how many members of one channel are read: a channel
// larger than this is treated as if the person were not in it, and they
// are told who else may see the job.
const maxMembers = 20000

// NewPeople returns the look-up; ttl 0 is 5 minutes.
func NewPeople(api WebAPI, sched *Scheduler, ttl time.Duration) *People {
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &People{api: api, sched: sched, ttl: ttl, now: time.Now,
		members: map[string]cachedList{}, private: map[string]cachedFlag{}}
}

// InChannel reports whether user is a member of channel. A channel gantry
// cannot see (it was never invited) has no members it knows of.
func (p *People) InChannel(ctx context.Context, channel, user string) (bool, error) {
	p.mu.Lock()
	c, ok := p.members[channel]
	p.mu.Unlock()
	if !ok || p.now().Sub(c.when) >= p.ttl {
		ids, err := p.reading.do(channel, func() ([]string, error) { return p.readMembers(ctx, channel) })
		if err != nil {
			return false, err
		}
		c = cachedList{ids: ids, when: p.now()}
		p.mu.Lock()
		p.members[channel] = c
		p.mu.Unlock()
	}
	return slices.Contains(c.ids, user), nil
}

func (p *People) readMembers(ctx context.Context, channel string) ([]string, error) {
	var all []string
	cursor := ""
	for {
		var page []string
		err := p.sched.Do(ctx, MethodChannelMembers, "", func(ctx context.Context, _ int) error {
			var err error
			page, cursor, err = p.api.GetUsersInConversationContext(ctx, &goslack.GetUsersInConversationParameters{ChannelID: channel, Cursor: cursor, Limit: 1000})
			return err
		})
		if errorCode(err) == "channel_not_found" {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("members of channel %s: %w", channel, err)
		}
		all = append(all, page...)
		if cursor == "" || len(all) >= maxMembers {
			return all, nil
		}
	}
}

// Private reports whether channel is a private channel or a direct
// message. When it cannot tell, it says private: a page must not open to
// everyone because a look-up failed.
func (p *People) Private(ctx context.Context, channel string) bool {
	p.mu.Lock()
	c, ok := p.private[channel]
	p.mu.Unlock()
	if ok && p.now().Sub(c.when) < p.ttl {
		return c.v
	}
	var info *goslack.Channel
	err := p.sched.Do(ctx, MethodChannelInfo, "", func(ctx context.Context, _ int) error {
		var err error
		info, err = p.api.GetConversationInfoContext(ctx, &goslack.GetConversationInfoInput{ChannelID: channel})
		return err
	})
	if err != nil {
		return true
	}
	v := info.IsPrivate || info.IsIM || info.IsMpIM || info.IsGroup
	p.mu.Lock()
	p.private[channel] = cachedFlag{v: v, when: p.now()}
	p.mu.Unlock()
	return v
}
