package main

import (
	"context"
	"errors"
)

// runServe runs the Slack bot, the workers and the HTTP server in one process.
func (m *Main) runServe(ctx context.Context, args []string) error {
	return errors.New("serve: the Slack front end is not built yet")
}

// runBot runs the Slack bot and the HTTP server without workers.
func (m *Main) runBot(ctx context.Context, args []string) error {
	return errors.New("bot: the Slack front end is not built yet")
}
