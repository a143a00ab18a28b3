package slack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/commands"
	"github.com/gantry-ci/gantry/jobs"
)

// metadataEvent is the event_type of the metadata gantry puts on each of
// its messages; its payload's "key" tells a retried post whether the
// earlier try went through.
const metadataEvent = "gantry_message"

// Surface shows gantry's messages in a Slack workspace: it is the
// bot.Surface of the Slack bot. Every call goes through one Scheduler, so
// the whole process keeps within Slack's limits.
type Surface struct {
	api      WebAPI
	sched    *Scheduler
	leases   *jobs.Claims
	logger   *slog.Logger
	liveLog  time.Duration
	cardEdit time.Duration
	respond  *responder
	refresh  func(ctx context.Context, m bot.Message) (bot.Message, error)

	mu   sync.Mutex
	sent map[string]string // channel/ts -> what the message shows now
}

var _ bot.Surface = (*Surface)(nil)

// SurfaceConfig configures a Surface. Zero values are the defaults.
type SurfaceConfig struct {
	// Leases lets one of several processes show each live log; nil: this
	// process shows every live log it is asked for.
	Leases *jobs.Claims
	// LiveLogEvery is the least time between two calls for one live log;
	// 0 is 2s, whatever the job prints.
	LiveLogEvery time.Duration
	// CardEvery is the least time between two edits of a job message; 0 is
	// 1s. Edits that come faster are coalesced: the newest state shows.
	CardEvery time.Duration
	// Refresh, when set, renders a job message again from the job's record
	// just before an edit is sent: when several processes show one job's
	// events, an edit held back by the rate limit then still shows the
	// newest state, never an older one over a newer.
	Refresh func(ctx context.Context, m bot.Message) (bot.Message, error)
	Logger  *slog.Logger
}

// NewSurface returns the Slack surface that calls api through sched.
func NewSurface(api WebAPI, sched *Scheduler, cfg SurfaceConfig) *Surface {
	s := &Surface{api: api, sched: sched, leases: cfg.Leases, logger: cfg.Logger, liveLog: cfg.LiveLogEvery, cardEdit: cfg.CardEvery, refresh: cfg.Refresh}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.liveLog <= 0 {
		s.liveLog = 2 * time.Second
	}
	if s.cardEdit <= 0 {
		s.cardEdit = time.Second
	}
	s.respond = newResponder()
	s.sent = map[string]string{}
	return s
}

// content is the text and blocks of m for chat.postMessage and chat.update.
func content(m bot.Message) (string, []goslack.Block) {
	text := m.Text
	if text == "" && m.Card != nil {
		text = bot.CardText(m.Card)
	}
	if m.Mention != "" {
		text = commands.Mention(m.Mention) + " " + text
	}
	return clip(text.Slack(), maxMessageText), Blocks(m)
}

// priority is how m's post or edit ranks among the calls that wait for a
// busy channel or method.
func priority(m bot.Message) Priority {
	switch {
	case m.Card != nil && !m.Card.State.Final():
		return Normal // an edit of a job message that a newer one will replace
	case m.Weight == bot.WeightNotice:
		return Normal
	case m.Weight == bot.WeightAside:
		return Background
	}
	return Urgent
}

// render returns what m shows when it is sent: a job message is rendered
// again from the job's record then (Refresh), so that a post or edit held
// back by the limits shows the newest state.
func (s *Surface) render(m bot.Message) func(context.Context) (string, []goslack.Block) {
	text, blocks := content(m)
	if m.Card == nil || s.refresh == nil {
		return func(context.Context) (string, []goslack.Block) { return text, blocks }
	}
	return func(ctx context.Context) (string, []goslack.Block) {
		fresh, err := s.refresh(ctx, m)
		if err != nil {
			s.logger.Warn("render job message again", "job", m.Card.Job, "err", err)
			return text, blocks
		}
		return content(fresh)
	}
}

// Post sends m to channel, in the thread of threadTS when set, and returns
// its ts. A post retried after a failure that may have taken effect (a 429
// or an error after Slack had the message) first looks for the message by
// the key in its metadata, so it is never posted twice. When the channel is
// busy, job messages and answers go before notices, and notices before
// asides.
func (s *Surface) Post(ctx context.Context, channel, threadTS string, m bot.Message) (string, error) {
	payload := map[string]any{}
	if m.Card != nil {
		payload["job"] = m.Card.Job
	}
	p := priority(m)
	if m.Card != nil {
		p = Urgent // a new job's message: everything else in its thread waits for it
	}
	return s.post(ctx, &waiter{prio: p}, channel, threadTS, s.render(m), payload)
}

// post sends what render returns when the limits let w go.
func (s *Surface) post(ctx context.Context, w *waiter, channel, threadTS string, render func(context.Context) (string, []goslack.Block), payload map[string]any) (string, error) {
	key := newKey()
	payload["key"] = key
	// Slack's clock may differ a little from ours.
	since := time.Now().Add(-time.Minute)
	var ts, view string
	var last error
	err := s.sched.do(ctx, w, MethodPostMessage, channel, nil, func(ctx context.Context, attempt int) error {
		if attempt > 1 && mayHaveApplied(last) {
			found, err := s.findPosted(ctx, channel, threadTS, key, since)
			switch {
			case err != nil && ctx.Err() != nil:
				return err
			case err != nil:
				// Better a rare duplicate than a lost message.
				s.logger.Warn("cannot tell whether an earlier try posted the message; posting it", "channel", channel, "err", err)
			case found != "":
				ts = found
				return nil
			}
		}
		text, blocks := render(ctx)
		view, _ = shows(text, blocks)
		opts := []goslack.MsgOption{
			goslack.MsgOptionText(text, false),
			goslack.MsgOptionDisableLinkUnfurl(),
			goslack.MsgOptionMetadata(goslack.SlackMetadata{EventType: metadataEvent, EventPayload: payload}),
		}
		if blocks != nil {
			opts = append(opts, goslack.MsgOptionBlocks(blocks...))
		}
		if threadTS != "" {
			opts = append(opts, goslack.MsgOptionTS(threadTS))
		}
		_, t, err := s.api.PostMessageContext(ctx, channel, opts...)
		last, ts = err, t
		return err
	})
	if err != nil {
		return "", fmt.Errorf("post to %s: %w", channel, err)
	}
	if view != "" {
		s.remember(channel+"/"+ts, view)
	}
	return ts, nil
}

// mayHaveApplied reports whether a post that failed with err may still have
// been posted: Slack can answer 429 or fail after it stored the message.
func mayHaveApplied(err error) bool {
	if err == nil {
		return false
	}
	_, limited := rateLimited(err)
	return limited || isTransient(err)
}

// findPosted looks for gantry's message with key posted after since: in the
// thread of threadTS, or at the top of the channel. It reads a few pages at
// most; a busy channel's older messages are not the one.
func (s *Surface) findPosted(ctx context.Context, channel, threadTS, key string, since time.Time) (string, error) {
	oldest := strconv.FormatInt(since.Unix(), 10) + ".000000"
	cursor := ""
	for page := 0; page < 5; page++ {
		var msgs []goslack.Message
		var next string
		var err error
		if threadTS != "" {
			err = s.sched.Do(ctx, MethodReplies, "", func(ctx context.Context, _ int) error {
				var e error
				msgs, _, next, e = s.api.GetConversationRepliesContext(ctx, &goslack.GetConversationRepliesParameters{
					ChannelID: channel, Timestamp: threadTS, Oldest: oldest, Inclusive: true, Limit: 200, IncludeAllMetadata: true, Cursor: cursor,
				})
				return e
			})
		} else {
			err = s.sched.Do(ctx, MethodHistory, "", func(ctx context.Context, _ int) error {
				h, e := s.api.GetConversationHistoryContext(ctx, &goslack.GetConversationHistoryParameters{
					ChannelID: channel, Oldest: oldest, Inclusive: true, Limit: 200, IncludeAllMetadata: true, Cursor: cursor,
				})
				if h != nil {
					msgs, next = h.Messages, h.ResponseMetaData.NextCursor
				}
				return e
			})
		}
		if err != nil {
			return "", err
		}
		for _, m := range msgs {
			if m.Metadata.EventType == metadataEvent && m.Metadata.EventPayload["key"] == key {
				return m.Timestamp, nil
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return "", nil
}

func newKey() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return hex.EncodeToString(b)
}

// Update replaces the message at ts. Edits of one message that come faster
// than CardEvery are coalesced: only the newest is sent. An edit of a job
// message that a newer one will replace (running, step k of n) is queued
// and not waited for; one that shows how the job ended goes ahead of every
// other edit waiting for chat.update, and Update returns once it is sent.
func (s *Surface) Update(ctx context.Context, channel, ts string, m bot.Message) error {
	text, blocks := content(m)
	p := priority(m)
	wait := m.Card == nil || p == Urgent
	return s.edit(ctx, p, wait, channel, ts, text, blocks, s.cardEdit, s.render(m))
}

// edit replaces the message at channel/ts with what render returns when
// the edit is sent; text and blocks are what the caller expects it to show,
// so that an edit that changes nothing is not sent. With wait it returns
// once the edit was sent; else at once, and a failure is logged.
func (s *Surface) edit(ctx context.Context, p Priority, wait bool, channel, ts, text string, blocks []goslack.Block, spacing time.Duration, render func(context.Context) (string, []goslack.Block)) error {
	key := channel + "/" + ts
	view, err := shows(text, blocks)
	if err != nil {
		return err
	}
	s.mu.Lock()
	same := s.sent[key] == view
	s.mu.Unlock()
	if same {
		return nil // an event that changed nothing people see
	}
	done := s.sched.QueueEdit(p, MethodUpdate, channel, "update "+key, spacing, func(ctx context.Context, _ int) error {
		text, blocks := render(ctx)
		view, err := shows(text, blocks)
		if err != nil {
			return err
		}
		// Blocks are always sent, so a message without them loses the old ones.
		opts := []goslack.MsgOption{goslack.MsgOptionText(text, false), goslack.MsgOptionBlocks(blocks...)}
		_, _, _, err = s.api.UpdateMessageContext(ctx, channel, ts, opts...)
		if err == nil {
			s.remember(key, view)
		}
		return err
	})
	if !wait {
		go func() {
			if err := <-done; err != nil {
				s.logger.Error("update message", "channel", channel, "ts", ts, "err", err)
			}
		}()
		return nil
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return fmt.Errorf("update %s/%s: %w", channel, ts, err)
	}
	return nil
}

// shows is what a message with text and blocks shows, to compare edits.
func shows(text string, blocks []goslack.Block) (string, error) {
	raw, err := json.Marshal(blocks)
	if err != nil {
		return "", fmt.Errorf("encode blocks: %w", err)
	}
	return text + "\x00" + string(raw), nil
}

// remember records what the message at key shows, keeping the record of
// a bounded number of messages.
func (s *Surface) remember(key, shows string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sent) >= 10000 {
		clear(s.sent)
	}
	s.sent[key] = shows
}

// Upload shares f in the thread of threadTS with files upload v2: an upload
// URL, the bytes, then the completing call that shares it.
func (s *Surface) Upload(ctx context.Context, channel, threadTS string, f commands.File, comment string) error {
	if len(f.Content) == 0 {
		return nil
	}
	var u *goslack.GetUploadURLExternalResponse
	err := s.sched.Do(ctx, MethodGetUploadURL, "", func(ctx context.Context, _ int) error {
		var e error
		u, e = s.api.GetUploadURLExternalContext(ctx, goslack.GetUploadURLExternalParameters{
			FileName: f.Name, FileSize: len(f.Content), SnippetType: "text",
		})
		return e
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", f.Name, err)
	}
	err = s.sched.Do(ctx, MethodUpload, "", func(ctx context.Context, _ int) error {
		return s.api.UploadToURL(ctx, goslack.UploadToURLParameters{UploadURL: u.UploadURL, Reader: bytes.NewReader(f.Content), Filename: f.Name})
	})
	if err != nil {
		return fmt.Errorf("upload %s: %w", f.Name, err)
	}
	err = s.sched.Do(ctx, MethodCompleteUpload, channel, func(ctx context.Context, attempt int) error {
		_, e := s.api.CompleteUploadExternalContext(ctx, goslack.CompleteUploadExternalParameters{
			Files: []goslack.FileSummary{{ID: u.FileID, Title: f.Title}}, Channel: channel, ThreadTimestamp: threadTS, InitialComment: comment,
		})
		if attempt > 1 && errorCode(e) == "file_already_completed" {
			return nil // the earlier try went through
		}
		return e
	})
	if err != nil {
		return fmt.Errorf("share %s in %s: %w", f.Name, channel, err)
	}
	return nil
}

// Ephemeral shows text to user alone, in channel (in the thread of threadTS
// when set).
func (s *Surface) Ephemeral(ctx context.Context, channel, user, threadTS, text string) error {
	opts := []goslack.MsgOption{goslack.MsgOptionText(clip(text, maxMessageText), false)}
	if threadTS != "" {
		opts = append(opts, goslack.MsgOptionTS(threadTS))
	}
	err := s.sched.Do(ctx, MethodPostEphemeral, channel, func(ctx context.Context, _ int) error {
		_, err := s.api.PostEphemeralContext(ctx, channel, user, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("ephemeral to %s in %s: %w", user, channel, err)
	}
	return nil
}

// Respond answers through a slash command's or a button's response_url:
// to the person alone, or to the channel when inChannel.
func (s *Surface) Respond(ctx context.Context, responseURL, text string, inChannel bool) error {
	err := s.sched.Do(ctx, MethodResponseURL, "", func(ctx context.Context, _ int) error {
		return s.respond.post(ctx, responseURL, clip(text, maxMessageText), inChannel)
	})
	if err != nil {
		return fmt.Errorf("answer through response_url: %w", err)
	}
	return nil
}
