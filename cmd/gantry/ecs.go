package main

import (
	"context"
	"errors"

	"github.com/gantry-ci/gantry/jobs"
)

// ecsRunner builds the ECS runner from the server config and the AWS SDK's
// own configuration chain.
func (m *Main) ecsRunner(ctx context.Context, p *parts) (jobs.Runner, error) {
	return nil, &settingError{"runner.kind", `"ecs" is not available in this build yet`}
}

// ecsWorkerHooks returns what a worker running as an ECS service task calls
// when it becomes busy or idle (task scale-in protection).
func (m *Main) ecsWorkerHooks(ctx context.Context, p *parts) (func(busy bool), error) {
	return nil, nil
}

// runFetch checks a job's source out inside an ECS task.
func (m *Main) runFetch(ctx context.Context, args []string) error {
	return errors.New("fetch: not available in this build yet")
}
