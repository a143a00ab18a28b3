package slack

import (
	"context"

	"github.com/gantry-ci/gantry/bot"
	"github.com/gantry-ci/gantry/commands"
)

// answer shows rep where the person expects it:
//
//   - a slash command or a click: to the person alone, through the
//     response_url (chat.postEphemeral when that fails). "Queued #3" is
//     shown to the person alone too: the job's own message appears in the
//     channel for everyone, and a slash command is not seen by the others,
//     so a public "Queued #3" would stand there without its question.
//   - a mention: in a thread under the person's message, or to the person
//     alone when the reply concerns only them (usage, refusals).
//   - a direct message: in that conversation.
//   - a reaction: to the person alone.
//
// A reply meant for a job's thread (logs typed there) goes into that
// thread, with its file. Files cannot be attached to what only one person
// sees; the whole log is in the job's thread once it has ended.
func (b *Bot) answer(ctx context.Context, in input, rep commands.Reply) {
	s := b.cfg.Surface
	var err error
	switch {
	case in.kind == fromDM:
		thread := rep.ThreadTS
		if thread == "" {
			thread = in.threadTS
		}
		err = b.postReply(ctx, in.channel, thread, rep)
	case !rep.Ephemeral && (rep.ThreadTS != "" || in.kind == fromMention):
		thread := rep.ThreadTS
		if thread == "" {
			thread = in.threadTS
		}
		if thread == "" {
			thread = in.messageTS
		}
		err = b.postReply(ctx, in.channel, thread, rep)
	case in.responseURL != "":
		if err = s.Respond(ctx, in.responseURL, rep.Text.Slack(), false); err != nil {
			b.log.Warn("answer through response_url failed; sending an ephemeral message", "user", in.user, "err", err)
			err = s.Ephemeral(ctx, in.channel, in.user, "", rep.Text.Slack())
		}
	default:
		err = s.Ephemeral(ctx, in.channel, in.user, in.threadTS, rep.Text.Slack())
	}
	if err != nil && ctx.Err() == nil {
		b.log.Error("answer in Slack", "user", in.user, "channel", in.channel, "job", rep.Job, "err", err)
	}
}

// postReply posts rep in channel's thread and attaches its file.
func (b *Bot) postReply(ctx context.Context, channel, thread string, rep commands.Reply) error {
	s := b.cfg.Surface
	ts, err := s.Post(ctx, channel, thread, bot.Message{Text: rep.Text})
	if err != nil {
		return err
	}
	if rep.File == nil {
		return nil
	}
	if thread == "" {
		thread = ts
	}
	return s.Upload(ctx, channel, thread, *rep.File, "")
}
