// Package slackserver is a fake Slack for tests: a local HTTP server that
// speaks enough of Slack's Web API, Socket Mode and file upload protocols for
// the real slack-go client (github.com/slack-go/slack v0.35.0 and its
// socketmode package) to run against it unmodified, and that shows a test what
// a person in Slack would see.
//
// # Starting it
//
//	srv := slackserver.New(t) // closed by t.Cleanup
//	api := slack.New(slackserver.BotToken,
//		slack.OptionAPIURL(srv.APIURL()),
//		slack.OptionAppLevelToken(slackserver.AppToken))
//	sm := socketmode.New(api)
//
// APIURL ends in "/" as slack-go expects. The server knows one workspace
// (TeamID), one app (AppID) and its bot (BotUserID, BotID). Web API methods
// take BotToken, as a form field or an "Authorization: Bearer" header;
// apps.connections.open takes AppToken. A missing token is answered
// not_authed, the other kind of token not_allowed_token_type, anything else
// invalid_auth. Options: WithPingInterval, WithFileShareDelay, WithTrafficLog,
// WithRateLimits, WithoutRateLimits.
//
// # Socket Mode
//
// apps.connections.open returns a ws:// URL on the server that can be dialled
// once. On connect the server sends a hello, then WebSocket pings every
// DefaultPingInterval (slack-go's client reconnects after 30 s without one;
// SetPings(false) simulates a connection that silently died). It answers the
// client's pings.
//
// The test plays the people: SendSlashCommand, SendMention, SendMessage
// (channel_type "im" for a D… channel), SendReaction, SendBlockAction, or
// SendEvent and Send for any other payload. Each returns the Envelope (ID,
// payload, and EventID/TriggerID for de-duplication checks). An envelope goes
// to a random open connection, as Slack does, or waits for the next one to
// open. Mentions and messages are also put into the channel, so that the bot
// can thread under them; SendBlockAction carries the clicked message as the
// server holds it and fills in the button's block_id, value and label.
// Redeliver sends a payload again under a new envelope ID with retry_attempt
// raised; Resend sends the identical frame again.
//
// Every frame the client sends back is an Ack (envelope ID, payload, frame
// size, time, connection). An ack of MaxAckSize (20 KB) or more is marked
// Dropped and does not count, as Slack silently drops it. WaitAck waits for
// one.
//
// Disconnect(reason) sends {"type":"disconnect","reason":...} and closes every
// open connection; DropConnection closes their TCP connections abruptly.
// ConnectionCount and WaitConnection(n) follow the client reconnecting.
//
// What slack-go v0.35.0 does, as the tests here show: socketmode's RunContext
// reconnects by itself after a disconnect message, a dropped connection or a
// ping timeout, calling apps.connections.open afresh each time. When that
// call fails (a Slack error such as internal_error, HTTP 5xx, a 429) it retries
// with backoff (100 ms doubling up to 5 min, at least Retry-After), without
// returning. RunContext returns only when its context ends or the call fails
// with invalid_auth, account_inactive, not_authed, token_revoked or HTTP 404.
//
// # Web API
//
// auth.test, chat.postMessage, chat.update, chat.delete, chat.postEphemeral,
// reactions.add, conversations.info, conversations.history,
// conversations.replies, conversations.members, conversations.list,
// users.info, users.list, users.lookupByEmail, usergroups.list,
// usergroups.users.list, files.getUploadURLExternal, files.completeUploadExternal, and
// apps.connections.open. Bodies may be forms, multipart forms or JSON. Any
// other method is answered unknown_method, recorded and logged.
//
// chat.postMessage keeps message metadata (Message.Metadata);
// conversations.history (top-level messages, newest first) and
// conversations.replies (parent, then replies) return it with
// include_all_metadata, and honour oldest, latest, inclusive, limit and
// cursor. SetUserGroupHandle names a user group for usergroups.list.
// users.list (every user, the bot, bots and deleted users included) and
// conversations.list (types, exclude_archived; private channels only where
// the bot is a member) page by limit and an opaque cursor, with
// next_cursor in response_metadata while more remain, and are held to
// Tier 2 (DefaultLimits).
//
// Messages get unique, increasing ts values. A thread_ts that names a reply
// means that reply's thread; one that names no message is thread_not_found
// (stricter than Slack, to catch wrong ts values). Channels need not be set
// up: any ID of the form C…, G… or D… works (D is a direct message), other
// values are channel_not_found; AddChannel gives one a name. AddUser and
// SetUserGroup fill users.info and usergroups.users.list; people named in the
// Send helpers are added to users.info as they appear.
//
// Slack's limits are enforced on posts, updates, ephemerals and response_url
// posts: more than MaxBlocks blocks, a section text over MaxSectionText
// characters (and the other per-block limits in limits.go) is invalid_blocks,
// with the reason in response_metadata.messages; a blocks argument over
// MaxBlocksJSON characters is msg_blocks_too_long; text is cut at MaxText
// characters. chat.update replaces text, and blocks or attachments only when
// they are sent ("[]" clears them). The bot may update or delete only its own
// messages (cant_update_message, cant_delete_message).
//
// Uploads follow slack-go's UploadFileContext (in v0.35.0 the former
// UploadFileV2Context): files.getUploadURLExternal hands out an upload URL on
// this server, which takes a multipart ("file" part) or raw POST;
// files.completeUploadExternal shares the file with a message in channel_id
// (or channels), in thread_ts when given, with initial_comment as its text.
//
// Slash commands and block actions carry a response_url on this server; a
// post to it makes an ephemeral message (the default), an in_channel message,
// or for a block action replaces or deletes the clicked message
// (ResponsePosts records them).
//
// # Inspecting
//
// Calls(method) lists every request with its arguments (token removed into
// Call.Token), time, HTTP status and Slack error; CallCount and MinInterval
// check rates, e.g. chat.update at most once every 2 s per message. The
// channel as people see it: Messages, History (top level), Thread(channel, ts)
// (parent then replies), Message (with Revisions, Reactions, Deleted,
// Buttons, VisibleText), Ephemerals(user), Files and File (with the uploaded
// Content and where it was shared), Envelopes and Acks.
//
// WaitFor(tb, timeout, what, cond) re-checks cond on every change of the
// server's state (and at least every 50 ms) and fails the test with a summary
// of the server's state on timeout; WaitConnection, WaitAck, WaitCalls,
// WaitMessage and WaitEphemeral are built on it. Call them from the test's
// goroutine.
//
// # Rate limits
//
// As Slack does, the server answers calls beyond a method's limit with HTTP
// 429, {"ok":false,"error":"ratelimited"} and a Retry-After header in whole
// seconds, and does nothing else. DefaultLimits are on unless a test says
// otherwise: chat.postMessage about one a second per channel (a token bucket
// with a burst of 4), chat.update Tier 3 for the whole app (50 a minute,
// burst 20). WithRateLimits changes them per method; WithoutRateLimits is for
// tests that measure something pacing would only slow down. A call counts
// when it is let through, also when it then fails; one answered by an
// injected fault before it ran does not. Call.Throttled marks the 429s of
// the limits, and Throttled(method) counts them.
//
// # Faults
//
// RateLimit(method, n, retryAfter) answers the next n calls with HTTP 429 and
// a Retry-After header in whole seconds, without doing anything; slack-go
// returns *slack.RateLimitedError. RateLimitAfterApply does the call and then
// answers 429, as Slack sometimes does after posting. FailNext answers
// {"ok":false,"error":code}; FailNextHTTP answers an HTTP error status. They
// apply to the Web API methods, UploadMethod and ResponseURLMethod, and queue
// in order per method.
package slackserver
