package bot

import (
	"context"
	"errors"
	"net"
	"net/url"

	"github.com/slack-go/slack"
)

// WebAPI is the part of Slack's Web API gantry calls; *slack.Client is the
// real one. Every call goes through a Scheduler.
type WebAPI interface {
	AuthTestContext(ctx context.Context) (*slack.AuthTestResponse, error)
	PostMessageContext(ctx context.Context, channel string, options ...slack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channel, ts string, options ...slack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channel, user string, options ...slack.MsgOption) (string, error)
	GetConversationHistoryContext(ctx context.Context, p *slack.GetConversationHistoryParameters) (*slack.GetConversationHistoryResponse, error)
	GetConversationRepliesContext(ctx context.Context, p *slack.GetConversationRepliesParameters) ([]slack.Message, bool, string, error)
	GetUploadURLExternalContext(ctx context.Context, p slack.GetUploadURLExternalParameters) (*slack.GetUploadURLExternalResponse, error)
	UploadToURL(ctx context.Context, p slack.UploadToURLParameters) error
	CompleteUploadExternalContext(ctx context.Context, p slack.CompleteUploadExternalParameters) (*slack.CompleteUploadExternalResponse, error)
	GetUserGroupsContext(ctx context.Context, options ...slack.GetUserGroupsOption) ([]slack.UserGroup, error)
	GetUserGroupMembersContext(ctx context.Context, group string, options ...slack.GetUserGroupMembersOption) ([]string, error)
	GetConversationInfoContext(ctx context.Context, input *slack.GetConversationInfoInput) (*slack.Channel, error)
	GetUsersInConversationContext(ctx context.Context, p *slack.GetUsersInConversationParameters) ([]string, string, error)
	GetUserInfoContext(ctx context.Context, user string, options ...slack.GetUserInfoOption) (*slack.User, error)
}

var _ WebAPI = (*slack.Client)(nil)

// Web API method names, as the Scheduler keys its limits.
const (
	MethodPostMessage    = "chat.postMessage"
	MethodUpdate         = "chat.update"
	MethodPostEphemeral  = "chat.postEphemeral"
	MethodHistory        = "conversations.history"
	MethodReplies        = "conversations.replies"
	MethodGetUploadURL   = "files.getUploadURLExternal"
	MethodUpload         = "upload" // the POST to the URL files.getUploadURLExternal gave
	MethodCompleteUpload = "files.completeUploadExternal"
	MethodUserGroups     = "usergroups.list"
	MethodGroupMembers   = "usergroups.users.list"
	MethodChannelInfo    = "conversations.info"
	MethodChannelMembers = "conversations.members"
	MethodUserInfo       = "users.info"
	MethodResponseURL    = "response_url" // a post to a slash command's or button's response_url
)

// slackErrorCode returns the Slack error code of err ("invalid_auth"), ""
// when err is not a Slack error answer.
func slackErrorCode(err error) string {
	var e slack.SlackErrorResponse
	if errors.As(err, &e) {
		return e.Err
	}
	var r *responseError
	if errors.As(err, &r) {
		return r.code
	}
	return ""
}

// fatalAuthCodes are the answers that mean the token will never work again.
var fatalAuthCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true, "token_revoked": true, "token_expired": true,
}

// IsFatalAuth reports whether err says gantry's token is not (or no longer)
// accepted: nothing will work until someone fixes the setting.
func IsFatalAuth(err error) bool {
	return fatalAuthCodes[slackErrorCode(err)]
}

// transientCodes are Slack error answers worth trying again.
var transientCodes = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"ratelimited": true, "team_added_to_org": true,
}

// isTransient reports whether a call that failed with err may succeed when
// tried again: Slack's own failures, HTTP 5xx, and network errors.
func isTransient(err error) bool {
	if transientCodes[slackErrorCode(err)] {
		return true
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code >= 500
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// rateLimited returns the wait a 429 asked for.
func rateLimited(err error) (*slack.RateLimitedError, bool) {
	var rl *slack.RateLimitedError
	ok := errors.As(err, &rl)
	return rl, ok
}
