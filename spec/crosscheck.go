package spec

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// CrossCheck says how File.CheckServer checks a .gantry.yml against a
// server config.
type CrossCheck struct {
	ServerFile string // names the server config in messages; "": the file it was read from
	// Plans limits the check to the file-wide settings and these plans
	// (Plan.Name: "branch", "deploy staging"); none is the whole file.
	Plans []string
	// AnyEnv lets deploy stages name environments the server config does
	// not define (the console deploys to those).
	AnyEnv bool
}

// CheckServer checks that the server config s defines what f needs: the
// pool of each of its resources, and the environment of each of its
// deploy stages. Each problem names f's file and the line, and what s
// does define; nil when s defines it all.
func (f *File) CheckServer(s *Server, c CrossCheck) error {
	ps := problems{file: f.name}
	wanted := func(plan string) bool { return len(c.Plans) == 0 || slices.Contains(c.Plans, plan) }
	pools := func(names []string, at map[string]int, where string) {
		for _, n := range names {
			if msg := s.UndefinedPool(n, c.ServerFile); msg != "" {
				ps.addf(at[n], "resources%s: %s", where, msg)
			}
		}
	}
	pools(f.Resources, f.resourceAt, "")
	for _, name := range f.PipelineNames() {
		if wanted(name) {
			st := f.Pipelines[name]
			pools(st.Resources, st.resourceAt, fmt.Sprintf(" in pipeline %q", name))
		}
	}
	for _, env := range f.Environments() {
		if !wanted("deploy " + env) {
			continue
		}
		st := f.DeployStages[env]
		pools(st.Resources, st.resourceAt, fmt.Sprintf(" in deploy stage %q", env))
		if c.AnyEnv {
			continue
		}
		if msg := s.UndefinedEnv(env, c.ServerFile); msg != "" {
			ps.addf(st.line, "deploy stage %q: %s, so no one can deploy there", env, msg)
		}
	}
	return ps.err()
}

// UndefinedPool says, for people, that s does not define pool name:
// `pool "mysql" is not defined in gantry.yml (pools: pg, redis)`, with a
// "did you mean" where one is near. "" when s defines it. serverFile names
// the server config; "": the file s was read from (see where).
func (s *Server) UndefinedPool(name, serverFile string) string {
	if _, ok := s.Pools[name]; ok {
		return ""
	}
	if slices.Contains(s.Unstarted.Pools, name) {
		return unstarted("pool", name, s.where(serverFile))
	}
	return undefined("pool", name, s.where(serverFile), slices.Sorted(maps.Keys(s.Pools)))
}

// UndefinedEnv is UndefinedPool for an environment.
func (s *Server) UndefinedEnv(name, serverFile string) string {
	if _, ok := s.Environments[name]; ok {
		return ""
	}
	if slices.Contains(s.Unstarted.Environments, name) {
		return unstarted("environment", name, s.where(serverFile))
	}
	return undefined("environment", name, s.where(serverFile), slices.Sorted(maps.Keys(s.Environments)))
}

func unstarted(kind, name, where string) string {
	return fmt.Sprintf("%s %q was added to %s by a reload and is in use only once gantry restarts", kind, clip(name), cmp.Or(where, "gantry.yml"))
}

// where names the server config in a message: serverFile, else the file s
// was read from; "" for the built-in defaults gantry runs on without one.
func (s *Server) where(serverFile string) string {
	switch {
	case serverFile != "":
		return serverFile
	case strings.HasPrefix(s.file, "s3:") || strings.HasPrefix(s.file, "ssm:"):
		return s.file
	case s.file != "":
		return filepath.Base(s.file)
	}
	return ""
}

func undefined(kind, name, where string, have []string) string {
	if where == "" {
		return fmt.Sprintf("%s %q is not defined: no gantry.yml is loaded (GANTRY_CONFIG names it), and gantry's built-in defaults have no %ss", kind, clip(name), kind)
	}
	msg := fmt.Sprintf("%s %q is not defined in %s", kind, clip(name), where)
	switch near := suggest(name, have); {
	case len(have) == 0:
		return msg + fmt.Sprintf(", which defines no %ss", kind)
	case near != "":
		return msg + fmt.Sprintf(" (did you mean %q? %ss: %s)", near, kind, strings.Join(have, ", "))
	default:
		return msg + fmt.Sprintf(" (%ss: %s)", kind, strings.Join(have, ", "))
	}
}

// lineOf maps each plain string of a list to the line it is on (the first
// line, for a repeat).
func lineOf(n *yaml.Node) map[string]int {
	n = resolve(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	at := make(map[string]int, len(n.Content))
	for _, it := range n.Content {
		if it = resolve(it); it.Kind == yaml.ScalarNode {
			if _, seen := at[it.Value]; !seen {
				at[it.Value] = it.Line
			}
		}
	}
	return at
}

// ServerKeys are the keys at the top of a server config, gantry.yml.
func ServerKeys() []string { return slices.Clone(serverKeys) }

// FileKeys are the keys at the top of a repository's .gantry.yml.
func FileKeys() []string { return slices.Clone(fileKeys) }

// IsServerConfig tells a server config from a repository's .gantry.yml by
// what it holds, whatever the file is called: by the keys at its top that
// only one of the two has (a misspelt key counts for the file whose key it
// is nearest), and for the keys both have by their shape (a server
// config's artifacts: is a mapping, a .gantry.yml's a list; its schedules
// name a repo:). A file that is neither, or both equally, is taken for a
// .gantry.yml, whose parser explains syntax errors as well.
func IsServerConfig(data []byte) bool {
	var top yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil || len(top.Content) == 0 {
		return false
	}
	root := resolve(top.Content[0])
	if root.Kind != yaml.MappingNode {
		return false
	}
	server, repo := 0, 0
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, resolve(root.Content[i+1])
		inServer, inFile := slices.Contains(serverKeys, k), slices.Contains(fileKeys, k)
		switch {
		case inServer && inFile:
			if serverShaped(k, v) {
				server++
			} else {
				repo++
			}
		case inServer:
			server++
		case inFile:
			repo++
		case suggest(k, serverKeys) != "" && suggest(k, fileKeys) == "":
			server++
		case suggest(k, fileKeys) != "" && suggest(k, serverKeys) == "":
			repo++
		}
	}
	return server > repo
}

// serverShaped reports whether the value v of key k, which both files
// have, is written as a server config writes it.
func serverShaped(k string, v *yaml.Node) bool {
	switch k {
	case "artifacts":
		return v.Kind == yaml.MappingNode
	case "schedules":
		if v.Kind != yaml.MappingNode {
			return false
		}
		for i := 1; i < len(v.Content); i += 2 {
			if sc := resolve(v.Content[i]); sc.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(sc.Content); j += 2 {
					if sc.Content[j].Value == "repo" || sc.Content[j].Value == "channel" {
						return true
					}
				}
			}
		}
	}
	return false
}
