package main

import (
	"context"
	"fmt"

	"github.com/gantry-ci/gantry/internal/rdb"
	"github.com/gantry-ci/gantry/jobs"
	ecsrun "github.com/gantry-ci/gantry/jobs/ecs"
	"github.com/gantry-ci/gantry/jobs/local"
)

// previewKeeper ends the apps of previews whose records were closed: a
// local one this process runs (other processes' local previews end at
// their own next sweep), an ECS task when this process has the ECS runner.
type previewKeeper struct {
	local *local.Runner // nil unless this process runs local jobs
	ecs   *ecsrun.Runner
}

// StopPreview ends p's app, if this process can.
func (k *previewKeeper) StopPreview(ctx context.Context, p rdb.Preview) {
	switch {
	case p.Runner == "local" && k.local != nil:
		k.local.StopPreview(ctx, p)
	case p.Runner == "ecs" && k.ecs != nil:
		k.ecs.StopPreview(ctx, p)
	}
}

// sweep closes the previews whose TTL has passed (each once, across
// processes) and ends their apps, then ends the local previews of this
// process whose records are gone and drops the records of local previews
// whose gantry is gone.
func (k *previewKeeper) sweep(ctx context.Context, s *jobs.Store) error {
	expired, err := s.Previews().Expired(ctx, s.Now())
	for _, p := range expired {
		k.StopPreview(ctx, p)
	}
	if err != nil {
		return err
	}
	if k.local != nil {
		return k.local.SweepPreviews(ctx, s.Previews())
	}
	return nil
}

// previewLink is the address of job id's preview: signed unless web.public.
func (p *parts) previewLink(id int64) string {
	switch {
	case p.links == nil:
		return fmt.Sprintf("/preview/%d/", id)
	case p.cfg.Web.Public:
		return p.links.PreviewURL(id)
	}
	return p.links.Preview(id)
}
