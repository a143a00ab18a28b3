package spec

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Plan is one pipeline or deploy stage resolved against the file: what a job
// runs.
type Plan struct {
	Name      string            // "branch", "pr", "deploy staging"
	Image     string            // the stage's image, else the file's; "" when neither sets one
	Services  []Service         // the file's and the stage's (the stage's win), sorted by name
	Resources []string          // pools to lease a member of: the file's and the stage's, sorted, no repeats
	Env       map[string]string // the file's env with the stage's over it; never nil
	Timeout   time.Duration     // the stage's, else the file's, else DefaultTimeout
	Steps     []Step            // setup steps (Setup true) first, then steps
	Artifacts []string          // patterns of files kept after the steps
	Reports   Reports           // the file's and the stage's
	Branch    string            // deploy stages: the branch deployed by default ("" = the repository's default branch)
	Approval  bool              // deploy stages: the stage asks for approval
	OnPush    bool              // deploy stages: a push to Branch deploys once its build succeeds
	Preview   *Preview          // pipelines: the app to keep running after the steps; nil: none
}

// Service is a sidecar container, reachable from the steps by its name.
type Service struct {
	Name, Image string
}

// Step is one command of a plan.
type Step struct {
	Name  string // a short label: the first line of Run, cut to 60 characters
	Run   string // the command, as written (it may span lines)
	Setup bool   // a setup step, run before the steps
}

// Pipeline resolves the named pipeline ("branch", "pr", ...). A name the
// file does not define gives an *Error that names those it does and matches
// ErrNotDefined.
func (f *File) Pipeline(name string) (*Plan, error) {
	st, ok := f.Pipelines[name]
	if !ok {
		return nil, f.notDefined("pipeline", name, "pipelines", f.PipelineNames())
	}
	return f.plan(name, st), nil
}

// Deploy resolves the deploy stage of environment env. An environment the
// file has no stage for gives an *Error that names those it has and matches
// ErrNotDefined.
func (f *File) Deploy(env string) (*Plan, error) {
	st, ok := f.DeployStages[env]
	if !ok {
		return nil, f.notDefined("deploy stage for environment", env, "environments", f.Environments())
	}
	p := f.plan("deploy "+env, st.Stage)
	p.Branch = st.Branch
	p.Approval = st.Approval
	p.OnPush = st.OnPush
	return p, nil
}

func (f *File) notDefined(what, name, plural string, have []string) error {
	msg := fmt.Sprintf("no %s %q", what, clip(name))
	switch {
	case len(have) == 0:
		msg += fmt.Sprintf(" (the file defines no %s)", plural)
	case suggest(name, have) != "":
		msg += fmt.Sprintf(" (did you mean %q? %s: %s)", suggest(name, have), plural, strings.Join(have, ", "))
	default:
		msg += fmt.Sprintf(" (%s: %s)", plural, strings.Join(have, ", "))
	}
	return &Error{Problems: []Problem{{File: f.name, Msg: msg}}, kind: ErrNotDefined}
}

func (f *File) plan(name string, st Stage) *Plan {
	p := &Plan{
		Name:      name,
		Image:     cmp.Or(st.Image, f.Image),
		Env:       map[string]string{},
		Timeout:   cmp.Or(st.Timeout, f.Timeout, DefaultTimeout),
		Artifacts: slices.Clone(f.Artifacts),
	}
	if st.Preview != nil {
		pv := *st.Preview
		p.Preview = &pv
	}
	for _, pat := range slices.Concat(f.Reports.JUnit, st.Reports.JUnit) {
		if !slices.Contains(p.Reports.JUnit, pat) {
			p.Reports.JUnit = append(p.Reports.JUnit, pat)
		}
	}
	maps.Copy(p.Env, f.Env)
	maps.Copy(p.Env, st.Env)

	services := maps.Clone(f.Services)
	if services == nil {
		services = map[string]string{}
	}
	maps.Copy(services, st.Services)
	for _, n := range slices.Sorted(maps.Keys(services)) {
		p.Services = append(p.Services, Service{Name: n, Image: services[n]})
	}

	p.Resources = slices.Compact(slices.Sorted(slices.Values(slices.Concat(f.Resources, st.Resources))))
	if len(p.Resources) == 0 {
		p.Resources = nil
	}

	for _, run := range st.Setup {
		p.Steps = append(p.Steps, Step{Name: stepName(run), Run: run, Setup: true})
	}
	for _, run := range st.Steps {
		p.Steps = append(p.Steps, Step{Name: stepName(run), Run: run})
	}
	return p
}

// maxStepName is the length, in characters, of a step's label.
const maxStepName = 60

// stepName labels a command by its first non-blank line, marking with "…"
// anything cut off.
func stepName(run string) string {
	lines := strings.Split(strings.TrimSpace(run), "\n")
	first := strings.TrimSpace(lines[0])
	more := len(lines) > 1
	r := []rune(first)
	if len(r) > maxStepName || (more && len(r) > maxStepName-2) {
		return string(r[:maxStepName-1]) + "…"
	}
	if more {
		return first + " …"
	}
	return first
}

// Describe returns a summary of the plan for people, one setting a line, as
// `gantry check` prints it.
func (p *Plan) Describe() string {
	var b strings.Builder
	kind := "pipeline " + p.Name
	if strings.HasPrefix(p.Name, "deploy ") {
		kind = p.Name
	}
	b.WriteString(kind + "\n")
	row := func(key, value string) { fmt.Fprintf(&b, "  %-10s %s\n", key+":", value) }

	row("image", cmp.Or(p.Image, "(not set: the runner's default)"))
	if len(p.Services) > 0 {
		s := make([]string, len(p.Services))
		for i, sv := range p.Services {
			s[i] = sv.Name + " (" + sv.Image + ")"
		}
		row("services", strings.Join(s, ", "))
	}
	if len(p.Resources) > 0 {
		row("resources", strings.Join(p.Resources, ", "))
	}
	if len(p.Env) > 0 {
		names := slices.Sorted(maps.Keys(p.Env))
		for i, n := range names {
			names[i] = n + "=" + p.Env[n]
		}
		row("env", strings.Join(names, " "))
	}
	row("timeout", formatDuration(p.Timeout))
	if strings.HasPrefix(p.Name, "deploy ") {
		row("branch", cmp.Or(p.Branch, "(the repository's default branch)"))
		row("approval", map[bool]string{true: "required by the stage", false: "as the server config says"}[p.Approval])
	}
	if len(p.Artifacts) > 0 {
		row("artifacts", strings.Join(p.Artifacts, ", "))
	}
	if len(p.Reports.JUnit) > 0 {
		row("junit", strings.Join(p.Reports.JUnit, ", "))
	}
	section := ""
	for i, st := range p.Steps {
		if s := map[bool]string{true: "setup", false: "steps"}[st.Setup]; s != section {
			section = s
			b.WriteString("  " + s + ":\n")
		}
		num := fmt.Sprintf("%d. ", i+1)
		lines := strings.Split(strings.TrimRight(st.Run, "\n"), "\n")
		for j, l := range lines {
			if j == 0 {
				b.WriteString("    " + num + l + "\n")
			} else {
				b.WriteString("    " + strings.Repeat(" ", len(num)) + l + "\n")
			}
		}
	}
	return b.String()
}
