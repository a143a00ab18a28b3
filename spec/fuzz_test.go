package spec

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// seedFiles adds the example files to the corpus, and srcs.
func seedFiles(f *testing.F, srcs ...string) {
	f.Helper()
	for _, name := range []string{".gantry.yml", "gantry.yml", "design/.gantry.yml", "design/gantry.yml"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range srcs {
		f.Add([]byte(s))
	}
}

// checkError asserts what every error of Parse and ParseServer is: an
// *Error whose problems name the file and a line inside it.
func checkError(t *testing.T, err error, file string, data []byte) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) || len(se.Problems) == 0 {
		t.Fatalf("error %T %v: want an *Error with problems", err, err)
	}
	lines := len(lineEnds(data)) + 1 // a problem may be reported on the line after the last
	for _, p := range se.Problems {
		if p.File != file || p.Line < 0 || p.Line > lines || p.Msg == "" || len(lineEnds([]byte(p.Msg))) != 1 {
			t.Errorf("bad problem %#v (file has %d lines)", p, lines)
		}
	}
}

func FuzzParse(f *testing.F) {
	seedFiles(f,
		"", "~", "[a]", "a: &a [*a]\n", "prepare: &p {<<: *p}\npipelines: {b: {<<: *p}}\n",
		"pipelines: {b: {steps: &s [*s, [*s]]}}\n",
		"pipelines:\n  branch:\n    steps:\n      - a\n     - b\n",
		"deploy: {prod: {steps: [a], branch: main, approval: true, timeout: 1h}}\n",
		"env: {A: 1, B: true, C: ~}\npipelines: {b: {steps: [x], env: {<<: {D: x}}}}\n",
		"? [a]\n: b\n", "a: !!binary aGVsbG8=\n", "x: *nope\n", "a: 1\n---\nb: 2\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		IsServerConfig(data) // any input: an answer, no panic
		file, err := Parse(".gantry.yml", data)
		if err != nil {
			if file != nil {
				t.Fatal("Parse returned a File and an error")
			}
			checkError(t, err, ".gantry.yml", data)
			return
		}
		if len(file.PipelineNames())+len(file.Environments()) == 0 {
			t.Fatal("a valid file has no stages")
		}
		// Against a server config that defines nothing, each pool and
		// environment the file needs is a problem at a line of the file.
		if err := file.CheckServer(DefaultServer(), CrossCheck{}); err != nil {
			checkError(t, err, ".gantry.yml", data)
			for _, p := range err.(*Error).Problems {
				if p.Line == 0 && !strings.HasSuffix(p.Msg, "problems not shown") {
					t.Errorf("cross-check problem without a line: %s", p)
				}
			}
		} else if len(file.Environments()) > 0 {
			t.Error("deploy stages checked against no environments passed")
		}
		plans := make([]*Plan, 0)
		for _, n := range file.PipelineNames() {
			p, err := file.Pipeline(n)
			if err != nil {
				t.Fatalf("Pipeline(%q): %v", n, err)
			}
			plans = append(plans, p)
		}
		for _, n := range file.Environments() {
			p, err := file.Deploy(n)
			if err != nil {
				t.Fatalf("Deploy(%q): %v", n, err)
			}
			plans = append(plans, p)
		}
		for _, p := range plans {
			if p.Timeout <= 0 || p.Timeout > MaxTimeout {
				t.Errorf("%s: timeout %v", p.Name, p.Timeout)
			}
			steps := 0
			for _, st := range p.Steps {
				if strings.TrimSpace(st.Run) == "" || len([]rune(st.Name)) > maxStepName {
					t.Errorf("%s: bad step %#v", p.Name, st)
				}
				if !st.Setup {
					steps++
				}
			}
			if steps == 0 {
				t.Errorf("%s: no steps", p.Name)
			}
			for k := range p.Env {
				if !envNameRE.MatchString(k) || strings.HasPrefix(k, reservedEnvPrefix) {
					t.Errorf("%s: env %q", p.Name, k)
				}
			}
			if p.Describe() == "" {
				t.Errorf("%s: empty description", p.Name)
			}
		}
	})
}

func FuzzParseServer(f *testing.F) {
	seedFiles(f,
		"", "{}", "[repos]", "repos: {a: {path: x, channel: C012}, b: {github: a/b, channel: C012}}\n",
		"runner: {kind: ecs, ecs: {cluster: c, launch_type: FARGATE, capacity_provider: p, subnets: [s], log_group: g, fetch_image: f}}\n",
		"pools: {a: [x, y], b: [x]}\nenvironments: {p: {approval: true, approval_ttl: 1h}}\n",
		"base: &b {deployers: ['*']}\n", "environments: {p: {<<: *b}}\n",
		"workers: 0x10\nretry: {max_attempts: 1_0, backoff: 1s}\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseServer("gantry.yml", data)
		if err != nil {
			if s != nil {
				t.Fatal("ParseServer returned a Server and an error")
			}
			checkError(t, err, "gantry.yml", data)
			return
		}
		if s.Workers < 1 || s.Workers > MaxWorkers || s.Retry.MaxAttempts < 1 || s.Retry.Backoff <= 0 {
			t.Errorf("limits not kept: %+v", s)
		}
		if k := s.Runner.Kind; k != "local" && k != "ecs" {
			t.Errorf("runner kind %q", k)
		}
		channels := map[string]bool{}
		for name, r := range s.Repos {
			if r.Path == "" && r.GitHub == "" {
				t.Errorf("repo %q has no source", name)
			}
			if r.Channel != "" {
				if channels[r.Channel] {
					t.Errorf("channel %s bound twice", r.Channel)
				}
				channels[r.Channel] = true
				if got, ok := s.RepoForChannel(r.Channel); !ok || got != name {
					t.Errorf("RepoForChannel(%s) = %q, %v", r.Channel, got, ok)
				}
			}
		}
		members := map[string]bool{}
		for name, ms := range s.Pools {
			if len(ms) == 0 {
				t.Errorf("pool %q is empty", name)
			}
			for _, m := range ms {
				if members[m] {
					t.Errorf("resource %q in two pools", m)
				}
				members[m] = true
			}
		}
		for _, a := range s.Admins {
			if !s.IsAdmin(a) {
				t.Errorf("admin %q is not IsAdmin", a)
			}
		}
	})
}
