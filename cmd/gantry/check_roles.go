package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/gantry-ci/gantry/spec"
)

// printTrust writes, for `gantry check gantry.yml`, what each kind of job
// may reach: the AWS role (and cluster) builds and each environment's
// deploys run with, and the secrets each repo and environment grants
// (names and sources only: check never reads a value).
func printTrust(w io.Writer, cfg *spec.Server) {
	printRoles(w, cfg)
	printSecrets(w, cfg)
}

func printRoles(w io.Writer, cfg *spec.Server) {
	if cfg.Runner.Kind != "ecs" {
		fmt.Fprintln(w, "  roles: the local runner runs steps on this machine, with no AWS role of their own")
		return
	}
	e := cfg.Runner.ECS
	fmt.Fprintln(w, "  roles:")
	fmt.Fprintf(w, "    builds run with %s, cluster %s\n", roleText(e.BuildRoleARN), e.Cluster)
	for _, name := range slices.Sorted(maps.Keys(cfg.Environments)) {
		env, listed := e.Environments[name]
		cluster := e.Cluster
		if env.Cluster != "" {
			cluster = env.Cluster
		}
		line := fmt.Sprintf("    deploys to %s run with %s, cluster %s", name, roleText(env.TaskRoleARN), cluster)
		if len(env.Subnets) > 0 || len(env.SecurityGroups) > 0 {
			line += fmt.Sprintf(" (subnets %s, security groups %s)",
				listOr(env.Subnets, strings.Join(e.Subnets, ", ")), listOr(env.SecurityGroups, strings.Join(e.SecurityGroups, ", ")))
		}
		if !listed {
			line += " (not in runner.ecs.environments)"
		}
		fmt.Fprintln(w, line)
	}
}

func printSecrets(w io.Writer, cfg *spec.Server) {
	fmt.Fprintln(w, "  secrets:")
	granted := false
	for _, name := range slices.Sorted(maps.Keys(cfg.Repos)) {
		if ss := cfg.Repos[name].Secrets; len(ss) > 0 {
			fmt.Fprintf(w, "    every job of %s gets %s\n", name, secretList(ss))
			granted = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Environments)) {
		if ss := cfg.Environments[name].Secrets; len(ss) > 0 {
			fmt.Fprintf(w, "    deploys to %s also get %s (over a repo's of the same name)\n", name, secretList(ss))
			granted = true
		}
	}
	if !granted {
		fmt.Fprintln(w, "    (none)")
	}
}

func roleText(arn string) string {
	if arn == "" {
		return "no AWS role"
	}
	return "role " + arn
}

func secretList(ss []spec.Secret) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprintf("%s (%s)", s.Name, s.Source)
	}
	return strings.Join(parts, ", ")
}

func listOr(list []string, dflt string) string {
	if len(list) == 0 {
		return dflt
	}
	return strings.Join(list, ", ")
}
