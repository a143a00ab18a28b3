package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/gantry-ci/gantry/spec"
)

// runCheck validates a .gantry.yml or a server gantry.yml and prints what it
// would run. It exits 1 on any problem.
func (m *Main) runCheck(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(m.Stderr, "usage: gantry check FILE   (a .gantry.yml or a server gantry.yml)")
		return 2
	}
	path := args[0]
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(m.Stderr, "gantry check: %v\n", err)
		return 1
	}
	if filepath.Base(path) == "gantry.yml" {
		cfg, err := spec.ParseServer(path, data)
		if err != nil {
			return m.checkFailed(err)
		}
		fmt.Fprintf(m.Stdout, "%s: valid server config\n", path)
		fmt.Fprintf(m.Stdout, "  runner: %s, workers: %d\n", orDefault(cfg.Runner.Kind, "local"), cfg.Workers)
		fmt.Fprintf(m.Stdout, "  repos: %s\n", keys(cfg.Repos))
		fmt.Fprintf(m.Stdout, "  pools: %s\n", keys(cfg.Pools))
		fmt.Fprintf(m.Stdout, "  environments: %s\n", keys(cfg.Environments))
		return 0
	}
	f, err := spec.Parse(path, data)
	if err != nil {
		return m.checkFailed(err)
	}
	fmt.Fprintf(m.Stdout, "%s: valid\n", path)
	for _, name := range f.PipelineNames() {
		p, err := f.Pipeline(name)
		if err != nil {
			return m.checkFailed(err)
		}
		fmt.Fprintf(m.Stdout, "\npipeline %s:\n%s", name, p.Describe())
	}
	for _, env := range f.Environments() {
		p, err := f.Deploy(env)
		if err != nil {
			return m.checkFailed(err)
		}
		fmt.Fprintf(m.Stdout, "\ndeploy %s:\n%s", env, p.Describe())
	}
	return 0
}

func (m *Main) checkFailed(err error) int {
	var se *spec.Error
	if errors.As(err, &se) {
		for _, p := range se.Problems {
			fmt.Fprintln(m.Stderr, p.String())
		}
		return 1
	}
	fmt.Fprintln(m.Stderr, "gantry check:", err)
	return 1
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func keys[V any](m map[string]V) string {
	if len(m) == 0 {
		return "(none)"
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	out := ks[0]
	for _, k := range ks[1:] {
		out += ", " + k
	}
	return out
}
