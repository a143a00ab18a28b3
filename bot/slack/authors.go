package slack

import (
	"context"
	"fmt"

	goslack "github.com/slack-go/slack"
)

// emailAPI is the call that finds a person by their email.
type emailAPI interface {
	GetUserByEmailContext(ctx context.Context, email string) (*goslack.User, error)
}

// Emails finds Slack users by email (users.lookupByEmail, which needs the
// users:read.email scope).
type Emails struct {
	api   emailAPI
	sched *Scheduler
}

// NewEmails returns the look-up.
func NewEmails(api emailAPI, sched *Scheduler) *Emails { return &Emails{api: api, sched: sched} }

// UserByEmail returns the ID of the person whose Slack email is email; ""
// when there is none.
func (e *Emails) UserByEmail(ctx context.Context, email string) (string, error) {
	var u *goslack.User
	err := e.sched.Do(ctx, MethodUserByEmail, "", func(ctx context.Context, _ int) error {
		var err error
		u, err = e.api.GetUserByEmailContext(ctx, email)
		return err
	})
	if errorCode(err) == "users_not_found" {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("look up a Slack user by email: %w", err)
	}
	return u.ID, nil
}
