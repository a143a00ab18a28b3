package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// checkLocalTrust stops `serve` and `worker` with the local runner unless
// the server config says its repositories are trusted: the local runner
// runs every branch's code on gantry's own machine.
func (m *Main) checkLocalTrust() error {
	cfg, err := m.loadConfig()
	if err != nil {
		return err
	}
	if !untrustedLocal(cfg) {
		return nil
	}
	return &settingError{"runner.local.trusted", "the local runner runs every branch's code on this machine, next to gantry; " + trustAdvice}
}

// trustAdvice is what to do about an untrusted local runner.
const trustAdvice = "set runner.local.trusted: true in gantry.yml only if every branch of every repo is trusted, or use runner.kind: ecs"

// untrustedLocal says whether cfg runs jobs on the local runner without
// trusting it, which serve and worker refuse.
func untrustedLocal(cfg *spec.Server) bool {
	return (cfg.Runner.Kind == "" || cfg.Runner.Kind == "local") && !cfg.Runner.Local.Trusted
}

// localSecrets reads the values of the secrets the server config grants,
// for the local runner: GANTRY_SECRET_<NAME> from gantry's environment, or
// the file of a file:PATH secret. A secret with neither stops start-up.
func (m *Main) localSecrets(cfg *spec.Server) (map[spec.Secret]string, error) {
	out := map[spec.Secret]string{}
	for _, sec := range cfg.AllSecrets() {
		if v := m.Getenv("GANTRY_SECRET_" + sec.Name); v != "" {
			out[sec] = v
			continue
		}
		if p := sec.File(); p != "" {
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, &settingError{"secrets", fmt.Sprintf("secret %s: cannot read %s: %v", sec.Name, p, err)}
			}
			out[sec] = strings.TrimRight(string(b), "\r\n")
			continue
		}
		return nil, &settingError{"secrets", fmt.Sprintf("secret %s comes from %s, which only the ecs runner can read; for the local runner set GANTRY_SECRET_%s or write file:PATH", sec.Name, sec.Source, sec.Name)}
	}
	return out, nil
}

// secretsRunner gives each job's steps the secrets its repo (and, for a
// deploy, its environment) is granted, as environment variables. The
// values go into the steps' environment only: never the job record.
type secretsRunner struct {
	inner  jobs.Runner
	cfg    *spec.Server
	values map[spec.Secret]string
}

func (r *secretsRunner) Run(ctx context.Context, x *jobs.Execution) (int, error) {
	for _, sec := range r.cfg.SecretsFor(x.Job.Repo, x.Job.Env) {
		if x.Env == nil {
			x.Env = map[string]string{}
		}
		x.Env[sec.Name] = r.values[sec]
	}
	return r.inner.Run(ctx, x)
}

// secretValues lists the values, for the redactor.
func secretValues(values map[spec.Secret]string) []string {
	return slices.Sorted(maps.Values(values))
}
