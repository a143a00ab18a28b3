package spec

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// The parts of the server config that draw trust boundaries: secrets given
// to jobs, the roles jobs run with, the local runner's trust, the limits on
// what one person may queue.

// Secret is one secret a repo or environment grants its jobs: steps see it
// as the environment variable Name.
//
// Source is where its value comes from. An ARN (Secrets Manager
// "arn:aws:secretsmanager:…" or SSM Parameter Store "arn:aws:ssm:…:parameter/…")
// is handed to ECS as a container secret, fetched by the task's execution
// role. On the local runner the value is GANTRY_SECRET_<NAME> from gantry's
// own environment, or the contents of the file when Source is "file:PATH".
type Secret struct {
	Name   string
	Source string
}

// IsARN reports whether the secret lives in AWS.
func (s Secret) IsARN() bool { return strings.HasPrefix(s.Source, "arn:") }

// File is the path of a "file:PATH" secret, or "".
func (s Secret) File() string {
	p, _ := strings.CutPrefix(s.Source, "file:")
	if p == s.Source {
		return ""
	}
	return p
}

// LocalRunner configures the local runner.
type LocalRunner struct {
	// Trusted must be set for `serve` with the local runner: its steps run
	// on gantry's own machine, so only repositories whose every branch the
	// team trusts may use it.
	Trusted bool
	// User runs the steps when gantry runs as root; default "nobody".
	User string
}

// ECSEnvironment is how deploys to one environment run on ECS: their own
// task role, and optionally their own cluster and network.
type ECSEnvironment struct {
	TaskRoleARN    string // the deploy role; "" is no AWS role at all
	Cluster        string // "" is runner.ecs.cluster
	Subnets        []string
	SecurityGroups []string
}

// Limits bound what one person may ask of gantry.
type Limits struct {
	QueuedPerPerson int // active jobs (queued, waiting, running, awaiting approval) one person may have; default 20
}

// DefaultQueuedPerPerson is the default of limits.queued_per_person.
const DefaultQueuedPerPerson = 20

var (
	secretARNRE = regexp.MustCompile(`^arn:aws[a-z-]*:(secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+|ssm:[a-z0-9-]+:[0-9]{12}:parameter/[A-Za-z0-9/_.-]+)$`)
	roleARNRE   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9/_+=,.@-]+$`)
	localKeys   = []string{"trusted", "user"}
	ecsEnvKeys  = []string{"task_role_arn", "cluster", "subnets", "security_groups"}
	limitKeys   = []string{"queued_per_person"}
)

// secrets reads a mapping of NAME: SOURCE.
func (d *decoder) secrets(n *yaml.Node, where string) []Secret {
	fs, _ := d.mapping(n, "secrets"+where, " in secrets"+where)
	var out []Secret
	for _, fl := range fs {
		name := fl.key.Value
		switch {
		case !envNameRE.MatchString(name):
			d.problem(fl.key, "secrets%s: %q is not a valid variable name (%s)", where, clip(name), envNameRule)
			continue
		case strings.HasPrefix(name, reservedEnvPrefix):
			d.problem(fl.key, "secrets%s: %q is reserved (gantry sets the variables that start with %s)", where, clip(name), reservedEnvPrefix)
			continue
		}
		src, ok := d.str(fl.val, fmt.Sprintf("secret %s%s", name, where))
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(src, "file:") && len(src) > len("file:"):
		case secretARNRE.MatchString(src):
		default:
			d.problem(resolve(fl.val), "secret %s%s: %q is not a Secrets Manager or SSM parameter ARN, nor file:PATH", name, where, clip(src))
			continue
		}
		out = append(out, Secret{Name: name, Source: src})
	}
	slices.SortFunc(out, func(a, b Secret) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func (d *decoder) localRunner(n *yaml.Node, l *LocalRunner) {
	const where = " in runner.local"
	fs, _ := d.mapping(n, "runner.local", where)
	for _, fl := range fs {
		switch fl.key.Value {
		case "trusted":
			l.Trusted, _ = d.boolean(fl.val, "trusted"+where)
		case "user":
			if u, ok := d.str(fl.val, "user"+where); ok {
				if userNameRE.MatchString(u) {
					l.User = u
				} else {
					d.problem(resolve(fl.val), "user%s: %q is not a user name", where, clip(u))
				}
			}
		default:
			d.unknownKey(fl.key, where, localKeys)
		}
	}
}

func (d *decoder) roleARN(n *yaml.Node, subject string) string {
	s, ok := d.str(n, subject)
	if !ok {
		return ""
	}
	if !roleARNRE.MatchString(s) {
		d.problem(resolve(n), "%s: %q is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", subject, clip(s))
		return ""
	}
	return s
}

func (d *decoder) ecsEnvironments(n *yaml.Node) map[string]ECSEnvironment {
	fs, _ := d.mapping(n, "runner.ecs.environments", " in runner.ecs.environments")
	out := map[string]ECSEnvironment{}
	for _, fl := range fs {
		name := fl.key.Value
		if !nameRE.MatchString(name) {
			d.problem(fl.key, "runner.ecs.environments: %q is not a valid environment name (%s)", clip(name), nameRule)
			continue
		}
		where := fmt.Sprintf(" in runner.ecs.environments.%s", name)
		keys, _ := d.mapping(fl.val, "runner.ecs.environments."+name, where)
		var e ECSEnvironment
		for _, k := range keys {
			subject := k.key.Value + where
			switch k.key.Value {
			case "task_role_arn":
				e.TaskRoleARN = d.roleARN(k.val, subject)
			case "cluster":
				if s, ok := d.str(k.val, subject); ok && s != "" {
					e.Cluster = s
				}
			case "subnets":
				e.Subnets = d.words(k.val, subject)
			case "security_groups":
				e.SecurityGroups = d.words(k.val, subject)
			default:
				d.unknownKey(k.key, where, ecsEnvKeys)
			}
		}
		out[name] = e
	}
	return out
}

func (d *decoder) limits(n *yaml.Node, l *Limits) {
	fs, _ := d.mapping(n, "limits", " in limits")
	for _, fl := range fs {
		switch fl.key.Value {
		case "queued_per_person":
			if v, ok := d.integer(fl.val, "queued_per_person in limits", 1, 10000); ok {
				l.QueuedPerPerson = v
			}
		default:
			d.unknownKey(fl.key, " in limits", limitKeys)
		}
	}
}

// checkTrust checks what spans sections: deploy roles name configured
// environments.
func (d *decoder) checkTrust(s *Server, ecsEnvs *yaml.Node) {
	if ecsEnvs == nil {
		return
	}
	for name := range s.Runner.ECS.Environments {
		if _, ok := s.Environments[name]; !ok {
			d.problem(ecsEnvs, "runner.ecs.environments: %q is not one of the environments (%s)", name, strings.Join(slices.Sorted(maps.Keys(s.Environments)), ", "))
		}
	}
}

// SecretsFor is every secret a job of repo (and, for a deploy, of env)
// gets: the environment's win over the repo's of the same name.
func (s *Server) SecretsFor(repo, env string) []Secret {
	byName := map[string]Secret{}
	for _, sec := range s.Repos[repo].Secrets {
		byName[sec.Name] = sec
	}
	if env != "" {
		for _, sec := range s.Environments[env].Secrets {
			byName[sec.Name] = sec
		}
	}
	out := make([]Secret, 0, len(byName))
	for _, n := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, byName[n])
	}
	return out
}

// AllSecrets is every secret of the config, each once per source.
func (s *Server) AllSecrets() []Secret {
	var out []Secret
	add := func(ss []Secret) {
		for _, x := range ss {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	for _, n := range slices.Sorted(maps.Keys(s.Repos)) {
		add(s.Repos[n].Secrets)
	}
	for _, n := range slices.Sorted(maps.Keys(s.Environments)) {
		add(s.Environments[n].Secrets)
	}
	return out
}

// PagePublic reports whether the job page of a job from channel may be
// opened without a signed link: web.public is set and the channel is not
// private, or it is listed in web.public_channels.
func (s *Server) PagePublic(channel string, private bool) bool {
	if !s.Web.Public {
		return false
	}
	return !private || slices.Contains(s.Web.PublicChannels, channel)
}
