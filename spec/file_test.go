package spec

import (
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t *testing.T, src string) *File {
	t.Helper()
	f, err := Parse(".gantry.yml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return f
}

var ignoreName = cmpopts.IgnoreUnexported(File{}, Stage{}, DeployStage{})

func TestParseDesignExample(t *testing.T) {
	f, err := Parse(".gantry.yml", readTestdata(t, "design/.gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	prepare := []string{"go mod download"}
	want := &File{
		Image:     "golang:1.26",
		Services:  map[string]string{"redis": "redis:7"},
		Resources: []string{"mysql"},
		Env:       map[string]string{"CGO_ENABLED": "0"},
		Timeout:   30 * time.Minute,
		Prepare:   prepare,
		Pipelines: map[string]Stage{
			"branch": {Setup: prepare, Steps: []string{"go test ./..."}},
			"pr":     {Setup: prepare, Steps: []string{"go test -race ./..."}},
		},
		DeployStages: map[string]DeployStage{
			"staging":    {Stage: Stage{Steps: []string{"./deploy.sh staging"}}, Branch: "main"},
			"production": {Stage: Stage{Steps: []string{"./deploy.sh prod"}}, Branch: "production", Approval: true},
		},
		Artifacts: []string{"build/logs/*.xml"},
	}
	if diff := cmp.Diff(want, f, ignoreName); diff != "" {
		t.Errorf("File (-want +got):\n%s", diff)
	}
	if got := f.PipelineNames(); !slices.Equal(got, []string{"branch", "pr"}) {
		t.Errorf("PipelineNames = %v", got)
	}
	if got := f.Environments(); !slices.Equal(got, []string{"production", "staging"}) {
		t.Errorf("Environments = %v", got)
	}
}

// The testdata example uses anchors on scalars, mappings merged with "<<"
// and overridden key by key, and a block scalar step.
func TestParseExample(t *testing.T) {
	f, err := Parse(".gantry.yml", readTestdata(t, ".gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	test := Stage{Setup: []string{"go mod download"}, Steps: []string{"go vet ./...", "go test ./..."}}
	deploy := Stage{
		Image: "alpine/k8s:1.31",
		Env:   map[string]string{"TARGET": "staging"},
		Steps: []string{"set -eu\n./deploy.sh \"$TARGET\"\n"},
	}
	want := &File{
		Image:     "golang:1.26",
		Services:  map[string]string{"redis": "redis:7"},
		Resources: []string{"mysql"},
		Env:       map[string]string{"CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"},
		Timeout:   30 * time.Minute,
		Prepare:   []string{"go mod download", "go vet ./..."},
		Pipelines: map[string]Stage{
			"branch": test,
			"pr": {
				Setup:   test.Setup,
				Steps:   []string{"go vet ./...", "go test -race ./..."},
				Timeout: 45 * time.Minute,
			},
			"nightly": {
				Setup:     test.Setup,
				Steps:     test.Steps,
				Image:     "golang:1.26-bookworm",
				Resources: []string{"mysql", "s3-bucket"},
				Env:       map[string]string{"GOFLAGS": "-count=1", "SLOW_TESTS": "1"},
				Services:  map[string]string{"minio": "minio/minio:latest"},
				Timeout:   2 * time.Hour,
			},
		},
		DeployStages: map[string]DeployStage{
			"staging": {Stage: deploy, Branch: "main"},
			"production": {
				Stage:    Stage{Image: deploy.Image, Env: map[string]string{"TARGET": "production"}, Steps: deploy.Steps},
				Branch:   "production",
				Approval: true,
			},
		},
		Artifacts: []string{"build/logs/*.xml", "coverage.out"},
	}
	if diff := cmp.Diff(want, f, ignoreName); diff != "" {
		t.Errorf("File (-want +got):\n%s", diff)
	}
}

func TestParseAnchors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]Stage
	}{
		{
			name: "alias of a list of steps",
			src: `
prepare: &prep [make deps, make gen]
pipelines:
  branch: {setup: *prep, steps: [make test]}
`,
			want: map[string]Stage{"branch": {Setup: []string{"make deps", "make gen"}, Steps: []string{"make test"}}},
		},
		{
			name: "alias of a list spliced among steps",
			src: `
prepare: &prep [make deps, make gen]
pipelines:
  branch: {steps: [*prep, make test, [make lint]]}
`,
			want: map[string]Stage{"branch": {Steps: []string{"make deps", "make gen", "make test", "make lint"}}},
		},
		{
			name: "merge key: written keys win over merged ones",
			src: `
pipelines:
  branch: &base {steps: [a], image: one, timeout: 5m}
  pr: {image: two, <<: *base}
`,
			want: map[string]Stage{
				"branch": {Steps: []string{"a"}, Image: "one", Timeout: 5 * time.Minute},
				"pr":     {Steps: []string{"a"}, Image: "two", Timeout: 5 * time.Minute},
			},
		},
		{
			name: "merge of a list: the first mapping wins",
			src: `
prepare:
  - &one {image: one, timeout: 1m}
  - &two {image: two, steps: [b]}
pipelines:
  branch: {<<: [*one, *two]}
`,
			want: map[string]Stage{"branch": {Image: "one", Timeout: time.Minute, Steps: []string{"b"}}},
		},
		{
			name: "merged mapping that merges another",
			src: `
prepare:
  - &inner {steps: [x], env: {A: "1"}}
  - &outer {<<: *inner, image: i}
pipelines:
  branch: {<<: *outer, env: {B: "2"}}
`,
			want: map[string]Stage{"branch": {Steps: []string{"x"}, Image: "i", Env: map[string]string{"B": "2"}}},
		},
		{
			name: "merge into a nested mapping",
			src: `
prepare:
  - &common {A: "1", B: "1"}
pipelines:
  branch: {steps: [x], env: {<<: *common, B: "2"}}
`,
			want: map[string]Stage{"branch": {Steps: []string{"x"}, Env: map[string]string{"A": "1", "B": "2"}}},
		},
		{
			name: "a mapping that merges itself is read once",
			src: `
pipelines:
  branch: &b {steps: [x], <<: *b}
`,
			want: map[string]Stage{"branch": {Steps: []string{"x"}}},
		},
		{
			name: "numbers and booleans in env are kept as written",
			src: `
pipelines:
  branch: {steps: [x], env: {N: 010, F: 1.50, B: true, S: "q"}}
`,
			want: map[string]Stage{"branch": {Steps: []string{"x"}, Env: map[string]string{"N": "010", "F": "1.50", "B": "true", "S": "q"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustParse(t, tt.src)
			if diff := cmp.Diff(tt.want, f.Pipelines, ignoreName); diff != "" {
				t.Errorf("Pipelines (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const ok = "pipelines: {branch: {steps: [make]}}\n"
	tests := []struct {
		name string
		src  string
		want []string
	}{
		// The file as a whole.
		{"empty", "", []string{".gantry.yml: the file is empty: it needs at least one pipeline (pipelines:) or deploy stage (deploy:)"}},
		{"comments only", "# nothing\n\n", []string{".gantry.yml: the file is empty: it needs at least one pipeline (pipelines:) or deploy stage (deploy:)"}},
		{"null document", "---\n~\n", []string{".gantry.yml: the file is empty: it needs at least one pipeline (pipelines:) or deploy stage (deploy:)"}},
		{"not a mapping", "- make\n", []string{".gantry.yml:1: the file must be a mapping of keys such as image, pipelines and deploy, not a list"}},
		{"syntax error in a second document", ok + "---\nimage: [x\n", []string{".gantry.yml:3: invalid YAML: did not find expected ',' or ']'"}},
		{"two documents", ok + "---\nimage: x\n", []string{`.gantry.yml:2: the file holds more than one YAML document (a second "---"): write everything in one`}},
		{"no stages", "image: x\n", []string{".gantry.yml:1: no pipelines or deploy stages: add pipelines: (e.g. branch, pr) or deploy: with at least one stage"}},
		{"empty pipelines", "pipelines: {}\ndeploy:\n", []string{".gantry.yml:1: no pipelines or deploy stages: add pipelines: (e.g. branch, pr) or deploy: with at least one stage"}},
		{"too large", "image: " + strings.Repeat("x", MaxFileSize) + "\n", []string{".gantry.yml: the file is too large (1048584 bytes; the limit is 1048576)"}},

		// YAML syntax.
		{"unclosed flow list", "pipelines:\n  branch:\n    steps: [make\n  pr: x\n", []string{".gantry.yml:3: invalid YAML: did not find expected ',' or ']'"}},
		{"bad indentation", "pipelines:\n  branch:\n    steps:\n      - a\n     - b\n", []string{".gantry.yml:5: invalid YAML: did not find expected key"}},
		{"colon in plain value", "image: a: b\n" + ok, []string{".gantry.yml:1: invalid YAML: mapping values are not allowed in this context"}},
		{"tab indentation", ok + "env:\n\tA: b\n", []string{".gantry.yml:3: invalid YAML: found character that cannot start any token (tabs cannot indent YAML: use spaces)"}},
		{"CRLF line ends", "pipelines:\r\n  branch:\r\n    steps: [make\r\n", []string{".gantry.yml:3: invalid YAML: did not find expected ',' or ']'"}},
		{"CR line ends", "pipelines:\r  branch:\r    steps: [make]\r    stpes: x\r",
			[]string{`.gantry.yml:4: unknown key "stpes" in pipeline "branch" (did you mean "steps"?)`}},
		{"unknown anchor", "pipelines:\n  branch: {steps: *nope}\n", []string{".gantry.yml:2: invalid YAML: *nope refers to no anchor (define &nope before using it)"}},

		// Keys.
		{"unknown key with suggestion", "pipelines:\n  branch:\n    steps: [make]\n    stpes: [make]\n",
			[]string{`.gantry.yml:4: unknown key "stpes" in pipeline "branch" (did you mean "steps"?)`}},
		{"unknown key without suggestion", ok + "colour: blue\n",
			[]string{`.gantry.yml:2: unknown key "colour" (known keys: image, services, resources, env, timeout, prepare, pipelines, deploy, artifacts, reports, schedules)`}},
		{"misspelt top-level key", "pipeline:\n  branch: {steps: [make]}\n", []string{
			`.gantry.yml:1: unknown key "pipeline" (did you mean "pipelines"?)`,
			".gantry.yml:1: no pipelines or deploy stages: add pipelines: (e.g. branch, pr) or deploy: with at least one stage",
		}},
		{"steps at top level", ok + "steps: [make]\n",
			[]string{`.gantry.yml:2: unknown key "steps" (steps belong in a stage: pipelines: {branch: {steps: [...]}})`}},
		{"deploy-only key in a pipeline", "pipelines:\n  branch: {steps: [make], approval: true}\n",
			[]string{`.gantry.yml:2: unknown key "approval" in pipeline "branch" (approval is for deploy stages)`}},
		{"unknown key in a deploy stage", "deploy:\n  staging: {steps: [make], aproval: true}\n",
			[]string{`.gantry.yml:2: unknown key "aproval" in deploy stage "staging" (did you mean "approval"?)`}},
		{"duplicate key", "pipelines:\n  branch:\n    steps: [a]\n    steps: [b]\n",
			[]string{`.gantry.yml:4: key "steps" in pipeline "branch" is defined twice (first on line 3)`}},
		{"duplicate top-level key", ok + "image: a\nimage: b\n",
			[]string{`.gantry.yml:3: key "image" is defined twice (first on line 2)`}},
		{"key that is not a name", ok + "? [a]\n: b\n", []string{".gantry.yml:2: keys must be names, not a list"}},
		{"merge of a scalar", "prepare: &p x\npipelines:\n  branch: {<<: *p, steps: [a]}\n",
			[]string{`.gantry.yml:1: merge key "<<" in pipeline "branch" must refer to a mapping or a list of mappings, not the string "x"`}},
		{"merge of a list holding a scalar", "prepare: &p x\npipelines:\n  branch: {<<: [*p], steps: [a]}\n",
			[]string{`.gantry.yml:1: merge key "<<" in pipeline "branch" must refer to a mapping or a list of mappings, not the string "x"`}},
		{"unknown key reached through a merge", "prepare: &p {stpes: [a]}\npipelines:\n  branch: {<<: *p, steps: [a]}\n",
			[]string{`.gantry.yml:1: unknown key "stpes" in pipeline "branch" (did you mean "steps"?)`}},

		// Types.
		{"image not a string", "image: [a]\n" + ok, []string{".gantry.yml:1: image: must be a string, not a list"}},
		{"image a number", "image: 1.5\n" + ok, []string{`.gantry.yml:1: image: must be a string, not the number 1.5 (put it in quotes: "1.5")`}},
		{"image empty", "image:\n" + ok, []string{".gantry.yml:1: image: has no value"}},
		{"image with a space", "image: golang 1.26\n" + ok, []string{`.gantry.yml:1: image: "golang 1.26" is not a valid image name`}},
		{"stage not a mapping", "pipelines:\n  branch: [make]\n", []string{`.gantry.yml:2: pipeline "branch": must be a mapping, not a list`}},
		{"pipelines not a mapping", "pipelines: [branch]\n", []string{
			".gantry.yml:1: pipelines: must be a mapping, not a list",
			".gantry.yml:1: no pipelines or deploy stages: add pipelines: (e.g. branch, pr) or deploy: with at least one stage",
		}},
		{"resources a string", "resources: mysql\n" + ok, []string{`.gantry.yml:1: resources: must be a list, not the string "mysql" (write [mysql])`}},
		{"resources a block of text", "resources: |\n  a\n  b\n" + ok, []string{`.gantry.yml:1: resources: must be a list, not the string "a\nb\n" (write [a\nb\n])`}},
		{"a tagged number with a line break", "image: !!int \"1\\n2\"\n" + ok, []string{`.gantry.yml:1: image: must be a string, not the number 1\n2 (put it in quotes: "1\n2")`}},
		{"resources item a mapping", "resources: [{a: b}]\n" + ok, []string{`.gantry.yml:1: resources: item 1: must be a string, not a mapping (put text that contains ": " in quotes)`}},
		{"services not a mapping", "services: [redis]\n" + ok, []string{".gantry.yml:1: services: must be a mapping, not a list"}},
		{"service image not a string", "pipelines:\n  branch: {steps: [a], services: {redis: {image: redis}}}\n",
			[]string{`.gantry.yml:2: service "redis" in pipeline "branch": must be a string, not a mapping (put text that contains ": " in quotes)`}},
		{"approval not a boolean", "deploy:\n  prod: {steps: [a], approval: yes}\n",
			[]string{`.gantry.yml:2: approval in deploy stage "prod": must be true or false, not the string "yes"`}},
		{"approval empty", "deploy:\n  prod: {steps: [a], approval: }\n",
			[]string{`.gantry.yml:2: approval in deploy stage "prod": has no value (write true or false)`}},
		{"branch not a string", "deploy:\n  prod: {steps: [a], branch: [main]}\n",
			[]string{`.gantry.yml:2: branch in deploy stage "prod": must be a string, not a list`}},
		{"artifacts a mapping", "artifacts: {a: b}\n" + ok, []string{".gantry.yml:1: artifacts: must be a list, not a mapping"}},
		{"tagged value", "image: !custom x\n" + ok, []string{".gantry.yml:1: image: must be a string, not a value tagged !custom"}},

		// Steps.
		{"no steps", "pipelines:\n  branch:\n    image: x\n", []string{`.gantry.yml:2: pipeline "branch" has no steps (add steps: [...])`}},
		{"empty stage", "deploy:\n  staging:\n", []string{`.gantry.yml:2: deploy stage "staging" has no steps (add steps: [...])`}},
		{"steps empty list", "pipelines:\n  branch:\n    steps: []\n", []string{`.gantry.yml:3: steps in pipeline "branch": must not be empty`}},
		{"steps null", "pipelines:\n  branch:\n    steps:\n", []string{`.gantry.yml:3: steps in pipeline "branch": must not be empty`}},
		{"steps a string", "pipelines:\n  branch: {steps: make test}\n", []string{`.gantry.yml:2: steps in pipeline "branch": must be a list, not the string "make test" (write [make test])`}},
		{"bad step items", "pipelines:\n  branch:\n    steps:\n      - make\n      - echo a: b\n      - ''\n      - 42\n      -\n", []string{
			`.gantry.yml:5: step 2 in pipeline "branch": must be a string, not a mapping (put text that contains ": " in quotes)`,
			`.gantry.yml:6: step 3 in pipeline "branch": is empty`,
			`.gantry.yml:7: step 4 in pipeline "branch": must be a string, not the number 42 (put it in quotes: "42")`,
			`.gantry.yml:8: step 5 in pipeline "branch": has no value`,
		}},
		{"bad setup step", "pipelines:\n  branch: {setup: ['  '], steps: [a]}\n", []string{`.gantry.yml:2: setup step 1 in pipeline "branch": is empty`}},
		{"steps nested two deep", "pipelines:\n  branch: {steps: [[[a]]]}\n",
			[]string{`.gantry.yml:2: steps in pipeline "branch": a list inside a list inside steps cannot be a step (lists of steps nest one level only)`}},

		// Names.
		{"bad pipeline name", "pipelines:\n  Branch: {steps: [a]}\n",
			[]string{`.gantry.yml:2: pipelines: "Branch" is not a valid pipeline name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"bad environment name", "deploy:\n  prod env: {steps: [a]}\n",
			[]string{`.gantry.yml:2: deploy: "prod env" is not a valid environment name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"pipeline name too long", "pipelines:\n  " + strings.Repeat("a", 64) + ": {steps: [a]}\n",
			[]string{`.gantry.yml:2: pipelines: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…" is not a valid pipeline name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"bad pool name", "resources: [MySQL]\n" + ok,
			[]string{`.gantry.yml:1: resources: "MySQL" is not a valid pool name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"bad pool name in a stage", "pipelines:\n  branch: {steps: [a], resources: [_x]}\n",
			[]string{`.gantry.yml:2: resources in pipeline "branch": "_x" is not a valid pool name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"bad service name", "services: {Redis: redis}\n" + ok,
			[]string{`.gantry.yml:1: services: "Redis" is not a valid service name (lower-case letters, digits, - and _, starting with a letter or digit, at most 63 characters)`}},
		{"bad branch", "deploy:\n  prod: {steps: [a], branch: 'feature..x'}\n",
			[]string{`.gantry.yml:2: branch in deploy stage "prod": "feature..x" is not a valid branch name`}},

		// Env.
		{"bad env name", "env: {1A: x}\n" + ok, []string{`.gantry.yml:1: env: "1A" is not a valid variable name (letters, digits and _, not starting with a digit)`}},
		{"env name with a dash", "pipelines:\n  branch: {steps: [a], env: {MY-VAR: x}}\n",
			[]string{`.gantry.yml:2: env in pipeline "branch": "MY-VAR" is not a valid variable name (letters, digits and _, not starting with a digit)`}},
		{"reserved env name", "env: {GANTRY_REF: x}\n" + ok, []string{`.gantry.yml:1: env: "GANTRY_REF" is reserved (gantry sets the variables that start with GANTRY_)`}},
		{"env without value", "env:\n  A:\n" + ok, []string{`.gantry.yml:2: env A: has no value (write "" for an empty string)`}},
		{"env value a list", "env: {A: [x]}\n" + ok, []string{".gantry.yml:1: env A: must be a string, not a list"}},
		{"env not a mapping", "env: [A=b]\n" + ok, []string{".gantry.yml:1: env: must be a mapping, not a list"}},

		// Timeouts.
		{"timeout not a duration", "timeout: abc\n" + ok, []string{`.gantry.yml:1: timeout: "abc" is not a duration (e.g. 30m, 1h, 7d)`}},
		{"timeout without unit", "timeout: 30\n" + ok, []string{`.gantry.yml:1: timeout: "30" is not a duration (e.g. 30m, 1h, 7d)`}},
		{"timeout zero", "pipelines:\n  branch: {steps: [a], timeout: 0s}\n", []string{`.gantry.yml:2: timeout in pipeline "branch": "0s" must be more than zero`}},
		{"timeout negative", "timeout: -5m\n" + ok, []string{`.gantry.yml:1: timeout: "-5m" must be more than zero`}},
		{"timeout too long", "timeout: 25h\n" + ok, []string{`.gantry.yml:1: timeout: "25h" is more than the limit of 24h`}},
		{"timeout a list", "timeout: [1h]\n" + ok, []string{".gantry.yml:1: timeout: must be a duration such as 30m or 1h, not a list"}},

		// Artifacts.
		{"artifact absolute", "artifacts: [/etc/passwd]\n" + ok,
			[]string{`.gantry.yml:1: artifacts: "/etc/passwd" must be relative to the repository root, not an absolute path`}},
		{"artifact outside", "artifacts: [build/../../x]\n" + ok,
			[]string{`.gantry.yml:1: artifacts: "build/../../x" must stay inside the repository (no "..")`}},
		{"artifact bad pattern", "artifacts: ['logs/[a']\n" + ok,
			[]string{`.gantry.yml:1: artifacts: "logs/[a" is not a valid pattern (syntax error in pattern)`}},
		{"artifact empty", "artifacts: ['']\n" + ok, []string{`.gantry.yml:1: artifacts: "" is empty`}},

		// Several problems at once, in line order.
		{"all problems are reported", "timeout: abc\npipelines:\n  branch:\n    stpes: [a]\n  pr: {steps: [b], image: [c]}\nenv: {GANTRY_X: y}\n", []string{
			`.gantry.yml:1: timeout: "abc" is not a duration (e.g. 30m, 1h, 7d)`,
			`.gantry.yml:3: pipeline "branch" has no steps (add steps: [...])`,
			`.gantry.yml:4: unknown key "stpes" in pipeline "branch" (did you mean "steps"?)`,
			`.gantry.yml:5: image in pipeline "pr": must be a string, not a list`,
			`.gantry.yml:6: env: "GANTRY_X" is reserved (gantry sets the variables that start with GANTRY_)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(".gantry.yml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse succeeded (%+v), want %q", f, tt.want)
			}
			if f != nil {
				t.Errorf("Parse returned a File with an error")
			}
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

// Aliases that refer to aliases could make a small file describe a huge
// one; the walk stops at a budget instead of taking the process with it.
func TestParseAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("prepare: &env {")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("V" + strings.Repeat("x", i%7) + string(rune('A'+i%26)) + "_" + strconv.Itoa(i) + ": v")
	}
	b.WriteString("}\npipelines:\n")
	for i := range 1000 {
		b.WriteString("  p" + strconv.Itoa(i) + ": {steps: [a], env: *env}\n")
	}
	// The budget, not a clock, is what stops the walk: the error names it.
	_, err := Parse(".gantry.yml", []byte(b.String()))
	if err == nil || !strings.Contains(err.Error(), ".gantry.yml: the file is too complex: its aliases expand to more than 1000000 values") {
		t.Errorf("err = %v, want the file to be too complex", err)
	}
}
