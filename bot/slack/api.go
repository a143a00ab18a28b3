package slack

import (
	"context"
	"errors"
	"net"
	"net/url"

	goslack "github.com/slack-go/slack"
)

// WebAPI is the part of Slack's Web API gantry calls; *goslack.Client is the
// real one. Every call goes through a Scheduler.
type WebAPI interface {
	AuthTestContext(ctx context.Context) (*goslack.AuthTestResponse, error)
	PostMessageContext(ctx context.Context, channel string, options ...goslack.MsgOption) (string, string, error)
	UpdateMessageContext(ctx context.Context, channel, ts string, options ...goslack.MsgOption) (string, string, string, error)
	PostEphemeralContext(ctx context.Context, channel, user string, options ...goslack.MsgOption) (string, error)
	GetConversationHistoryContext(ctx context.Context, p *goslack.GetConversationHistoryParameters) (*goslack.GetConversationHistoryResponse, error)
	GetConversationRepliesContext(ctx context.Context, p *goslack.GetConversationRepliesParameters) ([]goslack.Message, bool, string, error)
	GetUploadURLExternalContext(ctx context.Context, p goslack.GetUploadURLExternalParameters) (*goslack.GetUploadURLExternalResponse, error)
	UploadToURL(ctx context.Context, p goslack.UploadToURLParameters) error
	CompleteUploadExternalContext(ctx context.Context, p goslack.CompleteUploadExternalParameters) (*goslack.CompleteUploadExternalResponse, error)
	GetUserGroupsContext(ctx context.Context, options ...goslack.GetUserGroupsOption) ([]goslack.UserGroup, error)
	GetUserGroupMembersContext(ctx context.Context, group string, options ...goslack.GetUserGroupMembersOption) ([]string, error)
	GetConversationInfoContext(ctx context.Context, input *goslack.GetConversationInfoInput) (*goslack.Channel, error)
	GetUsersInConversationContext(ctx context.Context, p *goslack.GetUsersInConversationParameters) ([]string, string, error)
	GetUserInfoContext(ctx context.Context, user string, options ...goslack.GetUserInfoOption) (*goslack.User, error)
}

var _ WebAPI = (*goslack.Client)(nil)

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
	MethodUserByEmail    = "users.lookupByEmail"
	MethodUsers          = "users.list"
	MethodChannels       = "conversations.list"
	MethodResponseURL    = "response_url" // a post to a slash command's or button's response_url
)

// errorCode returns the Slack error code of err ("invalid_auth"), ""
// when err is not a Slack error answer.
func errorCode(err error) string {
	var e goslack.SlackErrorResponse
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
	return fatalAuthCodes[errorCode(err)]
}

// transientCodes are Slack error answers worth trying again.
var transientCodes = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true, "request_timeout": true,
	"ratelimited": true, "team_added_to_org": true,
}

// isTransient reports whether a call that failed with err may succeed when
// tried again: Slack's own failures, HTTP 5xx, and network errors.
func isTransient(err error) bool {
	if transientCodes[errorCode(err)] {
		return true
	}
	var sc goslack.StatusCodeError
	if errors.As(err, &sc) {
		return sc.Code >= 500
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

// rateLimited returns the wait a 429 asked for.
func rateLimited(err error) (*goslack.RateLimitedError, bool) {
	var rl *goslack.RateLimitedError
	ok := errors.As(err, &rl)
	return rl, ok
}
