package bot

import (
	"context"

	"github.com/gantry-ci/gantry/jobs"
)

// KeptNames gives the display names that a gantry serving Slack has read
// (bot/slack's Names) and kept in Redis, without asking Slack: the console,
// which has no Slack connection, shows people by them.
type KeptNames struct{ Store *jobs.Store }

// Name is person id's kept name, or "".
func (k KeptNames) Name(ctx context.Context, id string) string {
	name, ok, err := k.Store.CachedName(ctx, id)
	if err != nil || !ok {
		return ""
	}
	return name
}
