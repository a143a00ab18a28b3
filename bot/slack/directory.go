package slack

import (
	"context"
	"fmt"

	goslack "github.com/slack-go/slack"

	"github.com/gantry-ci/gantry/spec"
)

// DirectoryAPI is the part of the Web API that ReadWorkspace calls;
// *goslack.Client is the real one.
type DirectoryAPI interface {
	GetUsersPaginated(options ...goslack.GetUsersOption) goslack.UserPagination
	GetUserGroupsContext(ctx context.Context, options ...goslack.GetUserGroupsOption) ([]goslack.UserGroup, error)
	GetConversationsContext(ctx context.Context, p *goslack.GetConversationsParameters) ([]goslack.Channel, string, error)
}

var _ DirectoryAPI = (*goslack.Client)(nil)

// listPage is how many users or channels one call asks for: Slack
// recommends no more than 200.
const listPage = 200

// ReadWorkspace reads what the names in gantry.yml are matched against:
// with people, every user (users.list, page by page; deleted users and
// bots left out) and user group (usergroups.list); with channels, the
// public and private channels the bot can see, archived ones left out
// (conversations.list). Every call goes through sched, which waits out
// 429s.
func ReadWorkspace(ctx context.Context, api DirectoryAPI, sched *Scheduler, people, channels bool) (*spec.Workspace, error) {
	w := &spec.Workspace{}
	if people {
		p := api.GetUsersPaginated(goslack.GetUsersOptionLimit(listPage), goslack.GetUsersOptionIncludeLocale(false))
		for {
			var done bool
			err := sched.Do(ctx, MethodUsers, "", func(ctx context.Context, _ int) error {
				next, err := p.Next(ctx)
				if p.Done(err) {
					done = true
					return nil
				}
				if err == nil {
					p = next
				}
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("list the workspace's users (users.list, scope users:read): %w", err)
			}
			if done {
				break
			}
			for _, u := range p.Users {
				if !u.Deleted && !u.IsBot && u.ID != "USLACKBOT" {
					w.Users = append(w.Users, spec.WorkspaceUser{ID: u.ID, Handle: u.Name, DisplayName: u.Profile.DisplayName})
				}
			}
		}
		var groups []goslack.UserGroup
		err := sched.Do(ctx, MethodUserGroups, "", func(ctx context.Context, _ int) error {
			var err error
			groups, err = api.GetUserGroupsContext(ctx)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("list the workspace's user groups (usergroups.list, scope usergroups:read): %w", err)
		}
		for _, g := range groups {
			w.Groups = append(w.Groups, spec.WorkspaceGroup{ID: g.ID, Handle: g.Handle})
		}
	}
	if channels {
		params := &goslack.GetConversationsParameters{Types: []string{"public_channel", "private_channel"}, ExcludeArchived: true, Limit: listPage}
		for {
			var page []goslack.Channel
			var next string
			err := sched.Do(ctx, MethodChannels, "", func(ctx context.Context, _ int) error {
				var err error
				page, next, err = api.GetConversationsContext(ctx, params)
				return err
			})
			params.Cursor = next
			if err != nil {
				return nil, fmt.Errorf("list the workspace's channels (conversations.list, scopes channels:read and groups:read): %w", err)
			}
			for _, c := range page {
				w.Channels = append(w.Channels, spec.WorkspaceChannel{ID: c.ID, Name: c.Name})
			}
			if params.Cursor == "" {
				break
			}
		}
	}
	return w, nil
}
