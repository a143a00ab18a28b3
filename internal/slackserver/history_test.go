package slackserver

import (
	"context"
	"testing"

	"github.com/slack-go/slack"
)

func TestHistoryRepliesAndMetadata(t *testing.T) {
	srv := New(t)
	api := newAPI(srv)
	ctx := context.Background()
	meta := slack.SlackMetadata{EventType: "gantry_message", EventPayload: map[string]any{"key": "k1"}}
	_, parent, err := api.PostMessageContext(ctx, "C0BUILDS", slack.MsgOptionText("#1 queued", false), slack.MsgOptionMetadata(meta))
	if err != nil {
		t.Fatal(err)
	}
	_, reply, err := api.PostMessageContext(ctx, "C0BUILDS", slack.MsgOptionText("step 1", false), slack.MsgOptionTS(parent),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "gantry_message", EventPayload: map[string]any{"key": "k2"}}))
	if err != nil {
		t.Fatal(err)
	}
	_, later, err := api.PostMessageContext(ctx, "C0BUILDS", slack.MsgOptionText("#2 queued", false))
	if err != nil {
		t.Fatal(err)
	}

	h, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C0BUILDS", IncludeAllMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 2 || h.Messages[0].Timestamp != later || h.Messages[1].Timestamp != parent {
		t.Fatalf("history = %+v, want the two top-level messages, newest first", h.Messages)
	}
	if got := h.Messages[1].Metadata; got.EventType != "gantry_message" || got.EventPayload["key"] != "k1" {
		t.Errorf("metadata of %s = %+v", parent, got)
	}
	// Without include_all_metadata there is none; oldest is exclusive.
	h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C0BUILDS", Oldest: parent})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Messages) != 1 || h.Messages[0].Timestamp != later || h.Messages[0].Metadata.EventType != "" {
		t.Errorf("history after %s = %+v", parent, h.Messages)
	}
	// Paging.
	h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C0BUILDS", Limit: 1})
	if err != nil || !h.HasMore || h.ResponseMetaData.NextCursor == "" {
		t.Fatalf("first page = %+v, %v", h, err)
	}
	h, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "C0BUILDS", Limit: 1, Cursor: h.ResponseMetaData.NextCursor})
	if err != nil || h.HasMore || len(h.Messages) != 1 || h.Messages[0].Timestamp != parent {
		t.Fatalf("second page = %+v, %v", h, err)
	}

	msgs, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C0BUILDS", Timestamp: reply, IncludeAllMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].Timestamp != parent || msgs[1].Timestamp != reply || msgs[1].Metadata.EventPayload["key"] != "k2" {
		t.Errorf("replies = %+v", msgs)
	}
	if _, _, _, err := api.GetConversationRepliesContext(ctx, &slack.GetConversationRepliesParameters{ChannelID: "C0BUILDS", Timestamp: "1.000001"}); slackError(err) != "thread_not_found" {
		t.Errorf("replies of an unknown ts: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0BUILDS", slack.MsgOptionText("x", false), slack.MsgOptionMetadata(slack.SlackMetadata{})); slackError(err) != "invalid_metadata_schema" {
		t.Errorf("metadata without event_type: %v", err)
	}
}

func TestUserGroupsList(t *testing.T) {
	srv := New(t)
	srv.SetUserGroup("S0REL", "U01", "U02")
	srv.SetUserGroupHandle("S0REL", "releasers")
	groups, err := newAPI(srv).GetUserGroups(slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0].ID != "S0REL" || groups[0].Handle != "releasers" || len(groups[0].Users) != 2 {
		t.Errorf("usergroups.list = %+v", groups)
	}
}
