package jobs

import (
	"context"

	"github.com/gantry-ci/gantry/say"
	"github.com/gantry-ci/gantry/spec"
)

// ConfigGate ends a job at once, never retried, when the server config
// does not define what its plan needs: a pool it leases from, or the
// environment it deploys to. The command that queued the job checked
// both, but against the config of its time and process: gantry.yml may
// have changed since, or another gantry with another gantry.yml queued
// it. Run anyway, the job would wait for ever, fail on every retry, or
// run without its resource or its environment's role. A worker places it
// before the gates that wait and again after them, since a reload while
// the job waited its turn may have removed its environment.
type ConfigGate struct {
	Config func() *spec.Server // the server config as this worker reads it now
	// AnyEnv reports whether j may deploy to an environment the config
	// does not define (the console's deploys may); nil: none may.
	AnyEnv func(j *Job) bool
}

// Enter lets the job on, or ends it saying what is missing.
func (g *ConfigGate) Enter(ctx context.Context, x *Execution) (func(keep bool), error) {
	j := x.Job
	if j.Handle != "" || g.Config == nil {
		return nil, nil // re-attaching to work that runs already: it has what it needed
	}
	cfg := g.Config()
	var lacks []say.Text
	for _, p := range j.Plan.Resources {
		if msg := cfg.UndefinedPool(p, ""); msg != "" {
			lacks = append(lacks, say.F("%s, and this job's .gantry.yml leases from it", msg))
		}
	}
	if j.Kind == Deploy && j.Env != "" && (g.AnyEnv == nil || !g.AnyEnv(j)) {
		if msg := cfg.UndefinedEnv(j.Env, ""); msg != "" {
			lacks = append(lacks, say.F("%s, and this job deploys there", msg))
		}
	}
	if len(lacks) == 0 {
		return nil, nil
	}
	// Waiting or retrying cannot mend it: the job says why and ends.
	return nil, Permanent(&UserError{Msg: "nothing ran: " + say.Join(lacks, "; ")})
}
