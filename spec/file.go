// Package spec loads and checks gantry's two files: the repository's
// .gantry.yml (what a build or deploy runs) and the server config gantry.yml
// (repositories, runner, pools, environments, people).
//
// Both are strict: an unknown key, a value of the wrong type or an invalid
// name is a problem, reported as "file:line: what is wrong" in an *Error that
// lists every problem found. The functions here only read the bytes they are
// given.
package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Limits of a .gantry.yml.
const (
	DefaultTimeout = 30 * time.Minute // a stage's timeout when the file sets none
	MaxTimeout     = 24 * time.Hour   // the longest timeout a file may set
)

// File is a parsed and checked .gantry.yml, as written: File.Pipeline and
// File.Deploy resolve a stage into the Plan that runs.
type File struct {
	Image     string            // image steps run in
	Services  map[string]string // sidecar name -> image
	Resources []string          // pools to lease a member of
	Env       map[string]string
	Timeout   time.Duration // 0: not set
	// Prepare holds the "prepare" value when it is a list of strings. The key
	// exists to hold anchors, so any value is accepted there.
	Prepare      []string
	Pipelines    map[string]Stage       // "branch", "pr", or any other name
	DeployStages map[string]DeployStage // key "deploy": environment -> stage
	Artifacts    []string               // patterns of files to keep, relative to the repository root
	Reports      Reports                // test reports read after the steps
	// Schedules run the file's pipelines or deploy stages on the repo at
	// times; only the default branch's file counts. Their Repo and
	// Channel are empty (the repo's own).
	Schedules []Schedule

	name       string         // the file name given to Parse, for lookup errors
	resourceAt map[string]int // the line of each of Resources, for CheckServer
}

// Stage is one pipeline or deploy stage as written. Empty fields are not set
// and fall back to the file's.
type Stage struct {
	Setup     []string
	Steps     []string
	Env       map[string]string
	Image     string
	Services  map[string]string
	Resources []string
	Timeout   time.Duration
	Reports   Reports  // added to the file's
	Preview   *Preview // pipelines only: keep the app running after the steps

	resourceAt map[string]int // the line of each of Resources, for CheckServer
}

// Preview is a pipeline's preview: once its steps succeed, Run starts the
// app in the workspace (with PORT set to Port, on the local runner a free
// port gantry picks) and gantry serves it at /preview/N/ until the preview
// is stopped or its TTL ends.
//
//	preview: {run: ./serve, port: 8080, ttl: 4h}
//
// run is required; port (1 to 65535) is the port the app listens on in an
// ECS task and is required; ttl (at most 7 days) defaults to the server's
// previews.ttl.
type Preview struct {
	Run  string
	Port int
	TTL  time.Duration // 0: the server's previews.ttl
}

// MaxPreviewTTL is the longest ttl a preview may ask for.
const MaxPreviewTTL = 7 * 24 * time.Hour

// Reports are the test reports a stage leaves: patterns of files, relative
// to the repository root, read after the steps (also when they failed).
type Reports struct {
	JUnit []string // JUnit XML files
}

// DeployStage is the stage that deploys to one environment.
type DeployStage struct {
	Stage
	Branch   string // deployed when no ref is named; "" means the repository's default branch
	Approval bool   // the stage asks for approval (the server config may too)
	// OnPush deploys each push to Branch (or the default branch) once that
	// push's branch build succeeds. Only the default branch's file counts.
	OnPush bool

	line int // of the stage's key, for CheckServer
}

var (
	fileKeys   = []string{"image", "services", "resources", "env", "timeout", "prepare", "pipelines", "deploy", "artifacts", "reports", "schedules"}
	stageKeys  = []string{"setup", "steps", "env", "image", "services", "resources", "timeout", "reports", "preview"}
	reportKeys = []string{"junit"}
	deployKeys = append(slices.Clone(stageKeys[:len(stageKeys)-1]), "branch", "approval", "on_push")
)

// Parse reads a .gantry.yml. filename is used in messages only. Any problem
// makes it return an *Error listing all of them.
func Parse(filename string, data []byte) (*File, error) {
	d := newDecoder(filename)
	root, ok := d.document(data)
	if root == nil {
		if ok {
			d.problem(nil, "the file is empty: it needs at least one pipeline (pipelines:) or deploy stage (deploy:)")
		}
		return nil, d.err()
	}
	f := d.gantryFile(root)
	if err := d.err(); err != nil {
		return nil, err
	}
	f.name = filename
	return f, nil
}

func (d *decoder) gantryFile(root *yaml.Node) *File {
	f := &File{}
	if root.Kind != yaml.MappingNode {
		d.problem(root, "the file must be a mapping of keys such as image, pipelines and deploy, not %s", describe(root))
		return f
	}
	stages := 0
	var scheduleNodes []*yaml.Node
	for _, fl := range d.fields(root, "") {
		k, v := fl.key.Value, fl.val
		switch k {
		case "image":
			f.Image = d.image(v, "image")
		case "services":
			f.Services = d.services(v, "")
		case "resources":
			f.Resources = d.poolNames(v, "resources")
			f.resourceAt = lineOf(v)
		case "env":
			f.Env = d.env(v, "")
		case "timeout":
			f.Timeout, _ = d.duration(v, "timeout", MaxTimeout)
		case "prepare":
			f.Prepare = stringList(v)
		case "pipelines":
			stages += d.stages(v, "pipelines", "pipeline", "pipeline", stageKeys, func(name string, st DeployStage) {
				if f.Pipelines == nil {
					f.Pipelines = map[string]Stage{}
				}
				f.Pipelines[name] = st.Stage
			})
		case "deploy":
			stages += d.stages(v, "deploy", "deploy stage", "environment", deployKeys, func(name string, st DeployStage) {
				if f.DeployStages == nil {
					f.DeployStages = map[string]DeployStage{}
				}
				f.DeployStages[name] = st
			})
		case "artifacts":
			f.Artifacts = d.patterns(v, "artifacts", "")
		case "reports":
			f.Reports = d.reports(v, "")
		case "schedules":
			f.Schedules, scheduleNodes = d.scheduleList(v, false)
		case "steps", "setup":
			d.problem(fl.key, "unknown key %q (%s belong in a stage: pipelines: {branch: {%s: [...]}})", k, k, k)
		default:
			d.unknownKey(fl.key, "", fileKeys)
		}
	}
	if stages == 0 {
		d.problem(root, "no pipelines or deploy stages: add pipelines: (e.g. branch, pr) or deploy: with at least one stage")
	}
	d.checkFileSchedules(f, scheduleNodes)
	return f
}

// stages reads the mapping under "pipelines" or "deploy" (section), passing
// each stage that can be read to add. It returns how many stages the mapping
// names, readable or not. kind names a stage in messages, and named what its
// name names.
func (d *decoder) stages(n *yaml.Node, section, kind, named string, known []string, add func(string, DeployStage)) int {
	fs, _ := d.mapping(n, section, " in "+section)
	for _, p := range fs {
		if !nameRE.MatchString(p.key.Value) {
			d.problem(p.key, "%s: %q is not a valid %s name (%s)", section, clip(p.key.Value), named, nameRule)
			continue
		}
		if st, ok := d.stage(p, kind, known); ok {
			st.line = p.key.Line
			add(p.key.Value, st)
		}
	}
	return len(fs)
}

// stage reads one pipeline or deploy stage; kind names it in messages.
func (d *decoder) stage(p field, kind string, known []string) (DeployStage, bool) {
	name := p.key.Value
	where := fmt.Sprintf(" in %s %q", kind, name)
	fs, ok := d.mapping(p.val, fmt.Sprintf("%s %q", kind, name), where)
	if !ok {
		return DeployStage{}, false
	}
	var st DeployStage
	hasSteps := false
	for _, fl := range fs {
		v := fl.val
		switch k := fl.key.Value; k {
		case "setup":
			st.Setup = d.steps(v, "setup", "setup step", where)
		case "steps":
			hasSteps = true
			before := len(d.found)
			st.Steps = d.steps(v, "steps", "step", where)
			if len(st.Steps) == 0 && len(d.found) == before {
				d.problem(resolve(v), "steps%s: must not be empty", where)
			}
		case "env":
			st.Env = d.env(v, where)
		case "image":
			st.Image = d.image(v, "image"+where)
		case "services":
			st.Services = d.services(v, where)
		case "resources":
			st.Resources = d.poolNames(v, "resources"+where)
			st.resourceAt = lineOf(v)
		case "timeout":
			st.Timeout, _ = d.duration(v, "timeout"+where, MaxTimeout)
		case "reports":
			st.Reports = d.reports(v, where)
		case "preview":
			if kind != "pipeline" {
				d.unknownKey(fl.key, where, known)
				continue
			}
			st.Preview = d.preview(v, where)
		case "branch", "approval", "on_push":
			if kind == "pipeline" {
				d.problem(fl.key, "unknown key %q%s (%s is for deploy stages)", k, where, k)
				continue
			}
			if k == "on_push" {
				st.OnPush, _ = d.boolean(v, "on_push"+where)
			} else if k == "approval" {
				st.Approval, _ = d.boolean(v, "approval"+where)
			} else if b, ok := d.str(v, "branch"+where); ok {
				if validBranch(b) {
					st.Branch = b
				} else {
					d.problem(resolve(v), "branch%s: %q is not a valid branch name", where, clip(b))
				}
			}
		default:
			d.unknownKey(fl.key, where, known)
		}
	}
	if !hasSteps {
		d.problem(p.key, "%s %q has no steps (add steps: [...])", kind, name)
	}
	return st, true
}

// steps reads a list of commands. An item that is itself a list (usually an
// alias of a list defined elsewhere) is spliced in.
func (d *decoder) steps(n *yaml.Node, key, label, where string) []string {
	items, _ := d.list(n, key+where)
	var out []string
	num := 0
	add := func(it *yaml.Node) {
		num++
		subject := fmt.Sprintf("%s %d%s", label, num, where)
		if s, ok := d.str(it, subject); ok {
			if strings.TrimSpace(s) == "" {
				d.problem(it, "%s: is empty", subject)
				return
			}
			out = append(out, s)
		}
	}
	for _, it := range items {
		if it.Kind != yaml.SequenceNode {
			add(it)
			continue
		}
		for _, sub := range it.Content {
			if !d.spend() {
				break
			}
			if sub = resolve(sub); sub.Kind == yaml.SequenceNode {
				d.problem(sub, "%s%s: a list inside a list inside %s cannot be a step (lists of steps nest one level only)", key, where, key)
				continue
			}
			add(sub)
		}
	}
	return out
}

func (d *decoder) image(n *yaml.Node, subject string) string {
	s, ok := d.str(n, subject)
	if !ok {
		return ""
	}
	if !validImage(s) {
		d.problem(resolve(n), "%s: %q is not a valid image name", subject, clip(s))
		return ""
	}
	return s
}

func (d *decoder) services(n *yaml.Node, where string) map[string]string {
	fs, _ := d.mapping(n, "services"+where, " in services"+where)
	if len(fs) == 0 {
		return nil
	}
	out := make(map[string]string, len(fs))
	for _, fl := range fs {
		name := fl.key.Value
		if !nameRE.MatchString(name) {
			d.problem(fl.key, "services%s: %q is not a valid service name (%s)", where, clip(name), nameRule)
			continue
		}
		if img := d.image(fl.val, fmt.Sprintf("service %q%s", name, where)); img != "" {
			out[name] = img
		}
	}
	return out
}

func (d *decoder) env(n *yaml.Node, where string) map[string]string {
	fs, _ := d.mapping(n, "env"+where, " in env"+where)
	if len(fs) == 0 {
		return nil
	}
	out := make(map[string]string, len(fs))
	for _, fl := range fs {
		name := fl.key.Value
		switch {
		case !envNameRE.MatchString(name):
			d.problem(fl.key, "env%s: %q is not a valid variable name (%s)", where, clip(name), envNameRule)
			continue
		case strings.HasPrefix(name, reservedEnvPrefix):
			d.problem(fl.key, "env%s: %q is reserved (gantry sets the variables that start with %s)", where, clip(name), reservedEnvPrefix)
			continue
		}
		if isNull(resolve(fl.val)) {
			d.problem(fl.key, "env %s%s: has no value (write \"\" for an empty string)", name, where)
			continue
		}
		if v, ok := d.text(fl.val, fmt.Sprintf("env %s%s", name, where)); ok {
			out[name] = v
		}
	}
	return out
}

// poolNames reads a list of pool names, dropping repeats.
func (d *decoder) poolNames(n *yaml.Node, subject string) []string {
	items, _ := d.list(n, subject)
	var out []string
	for i, it := range items {
		s, ok := d.str(it, fmt.Sprintf("%s: item %d", subject, i+1))
		switch {
		case !ok:
		case !nameRE.MatchString(s):
			d.problem(it, "%s: %q is not a valid pool name (%s)", subject, clip(s), nameRule)
		case !slices.Contains(out, s):
			out = append(out, s)
		}
	}
	return out
}

// patterns reads a list of file patterns relative to the repository root
// (artifacts, reports): none may reach outside the workspace.
func (d *decoder) patterns(n *yaml.Node, key, where string) []string {
	items, _ := d.list(n, key+where)
	var out []string
	for i, it := range items {
		s, ok := d.str(it, fmt.Sprintf("%s%s: item %d", key, where, i+1))
		if !ok {
			continue
		}
		if msg := checkArtifact(s); msg != "" {
			d.problem(it, "%s%s: %q %s", key, where, clip(s), msg)
			continue
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (d *decoder) reports(n *yaml.Node, where string) Reports {
	var r Reports
	fs, _ := d.mapping(n, "reports"+where, " in reports"+where)
	for _, fl := range fs {
		switch fl.key.Value {
		case "junit":
			r.JUnit = d.patterns(fl.val, "junit in reports", where)
		default:
			d.unknownKey(fl.key, " in reports"+where, reportKeys)
		}
	}
	return r
}

// stringList returns n as a list of strings, or nil when it is anything else.
func stringList(n *yaml.Node) []string {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, it := range n.Content {
		it = resolve(it)
		if it.Kind != yaml.ScalarNode || it.ShortTag() != "!!str" {
			return nil
		}
		out = append(out, it.Value)
	}
	return out
}

// PipelineNames returns the names of the file's pipelines, sorted.
func (f *File) PipelineNames() []string {
	return slices.Sorted(maps.Keys(f.Pipelines))
}

// Environments returns the environments the file has deploy stages for, sorted.
func (f *File) Environments() []string {
	return slices.Sorted(maps.Keys(f.DeployStages))
}

// preview reads a pipeline's preview: {run, port, ttl}.
func (d *decoder) preview(n *yaml.Node, where string) *Preview {
	fs, ok := d.mapping(n, "preview"+where, " in preview"+where)
	if !ok {
		return nil
	}
	p := &Preview{}
	for _, fl := range fs {
		switch fl.key.Value {
		case "run":
			p.Run, _ = d.text(fl.val, "preview run"+where)
		case "port":
			p.Port, _ = d.integer(fl.val, "preview port"+where, 1, 65535)
		case "ttl":
			p.TTL, _ = d.duration(fl.val, "preview ttl"+where, MaxPreviewTTL)
		default:
			d.unknownKey(fl.key, " in preview"+where, []string{"run", "port", "ttl"})
		}
	}
	if strings.TrimSpace(p.Run) == "" {
		d.problem(resolve(n), "preview%s: needs run: (the command that starts the app)", where)
		return nil
	}
	if p.Port == 0 {
		d.problem(resolve(n), "preview%s: needs port: (the port the app listens on, 1 to 65535)", where)
		return nil
	}
	return p
}
