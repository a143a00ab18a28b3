package spec

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const resolveSrc = `
image: golang:1.26
services: {redis: "redis:7", db: "postgres:16"}
resources: [mysql]
env: {A: file, B: file}
timeout: 10m
pipelines:
  branch:
    setup: [make deps, make gen]
    steps: [make test]
  pr:
    image: golang:1.26-alpine
    services: {redis: "valkey:8", cache: "memcached:1"}
    resources: [s3, mysql]
    env: {B: stage, C: stage}
    timeout: 1h
    steps: [make race]
deploy:
  staging: {steps: [./deploy.sh]}
  production: {steps: [./deploy.sh], branch: release, approval: true, timeout: 2h}
artifacts: [out/*.xml]
`

func TestPipelineResolution(t *testing.T) {
	f := mustParse(t, resolveSrc)
	tests := []struct {
		name string
		plan func() (*Plan, error)
		want *Plan
	}{
		{
			name: "the file's settings, setup before steps",
			plan: func() (*Plan, error) { return f.Pipeline("branch") },
			want: &Plan{
				Name:      "branch",
				Image:     "golang:1.26",
				Services:  []Service{{"db", "postgres:16"}, {"redis", "redis:7"}},
				Resources: []string{"mysql"},
				Env:       map[string]string{"A": "file", "B": "file"},
				Timeout:   10 * time.Minute,
				Steps: []Step{
					{Name: "make deps", Run: "make deps", Setup: true},
					{Name: "make gen", Run: "make gen", Setup: true},
					{Name: "make test", Run: "make test"},
				},
				Artifacts: []string{"out/*.xml"},
			},
		},
		{
			name: "the stage's settings win and add to the file's",
			plan: func() (*Plan, error) { return f.Pipeline("pr") },
			want: &Plan{
				Name:      "pr",
				Image:     "golang:1.26-alpine",
				Services:  []Service{{"cache", "memcached:1"}, {"db", "postgres:16"}, {"redis", "valkey:8"}},
				Resources: []string{"mysql", "s3"},
				Env:       map[string]string{"A": "file", "B": "stage", "C": "stage"},
				Timeout:   time.Hour,
				Steps:     []Step{{Name: "make race", Run: "make race"}},
				Artifacts: []string{"out/*.xml"},
			},
		},
		{
			name: "deploy stage",
			plan: func() (*Plan, error) { return f.Deploy("production") },
			want: &Plan{
				Name:      "deploy production",
				Image:     "golang:1.26",
				Services:  []Service{{"db", "postgres:16"}, {"redis", "redis:7"}},
				Resources: []string{"mysql"},
				Env:       map[string]string{"A": "file", "B": "file"},
				Timeout:   2 * time.Hour,
				Steps:     []Step{{Name: "./deploy.sh", Run: "./deploy.sh"}},
				Artifacts: []string{"out/*.xml"},
				Branch:    "release",
				Approval:  true,
			},
		},
		{
			name: "deploy stage without branch or approval",
			plan: func() (*Plan, error) { return f.Deploy("staging") },
			want: &Plan{
				Name:      "deploy staging",
				Image:     "golang:1.26",
				Services:  []Service{{"db", "postgres:16"}, {"redis", "redis:7"}},
				Resources: []string{"mysql"},
				Env:       map[string]string{"A": "file", "B": "file"},
				Timeout:   10 * time.Minute,
				Steps:     []Step{{Name: "./deploy.sh", Run: "./deploy.sh"}},
				Artifacts: []string{"out/*.xml"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.plan()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p); diff != "" {
				t.Errorf("Plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanDefaults(t *testing.T) {
	f := mustParse(t, "pipelines: {branch: {steps: [make]}}\n")
	p, err := f.Pipeline("branch")
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{Name: "branch", Env: map[string]string{}, Timeout: DefaultTimeout, Steps: []Step{{Name: "make", Run: "make"}}}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Plan (-want +got):\n%s", diff)
	}
}

// A plan is a copy: changing it does not change the file or other plans.
func TestPlanIsACopy(t *testing.T) {
	f := mustParse(t, resolveSrc)
	p, _ := f.Pipeline("pr")
	p.Env["A"] = "changed"
	p.Resources[0] = "changed"
	p.Artifacts[0] = "changed"
	q, _ := f.Pipeline("pr")
	if q.Env["A"] != "file" || q.Resources[0] != "mysql" || q.Artifacts[0] != "out/*.xml" {
		t.Errorf("second plan saw the first one's changes: %+v", q)
	}
}

func TestNotDefined(t *testing.T) {
	f := mustParse(t, resolveSrc)
	onlyPipelines := mustParse(t, "pipelines: {branch: {steps: [a]}}\n")
	tests := []struct {
		name string
		call func() (*Plan, error)
		want string
	}{
		{"unknown pipeline", func() (*Plan, error) { return f.Pipeline("nightly") },
			`.gantry.yml: no pipeline "nightly" (pipelines: branch, pr)`},
		{"near miss", func() (*Plan, error) { return f.Pipeline("brnach") },
			`.gantry.yml: no pipeline "brnach" (did you mean "branch"? pipelines: branch, pr)`},
		{"deploy stages are not pipelines", func() (*Plan, error) { return f.Pipeline("staging") },
			`.gantry.yml: no pipeline "staging" (pipelines: branch, pr)`},
		{"unknown environment", func() (*Plan, error) { return f.Deploy("qa") },
			`.gantry.yml: no deploy stage for environment "qa" (environments: production, staging)`},
		{"no environments at all", func() (*Plan, error) { return onlyPipelines.Deploy("staging") },
			`.gantry.yml: no deploy stage for environment "staging" (the file defines no environments)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.call()
			if err == nil {
				t.Fatalf("got plan %+v, want an error", p)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
			var se *Error
			if !errors.As(err, &se) || !errors.Is(err, ErrNotDefined) {
				t.Errorf("error %T: want an *Error matching ErrNotDefined", err)
			}
		})
	}
}

func TestParseErrorIsNotNotDefined(t *testing.T) {
	_, err := Parse(".gantry.yml", []byte("image: x\n"))
	if errors.Is(err, ErrNotDefined) {
		t.Error("a parse error matches ErrNotDefined")
	}
}

func TestStepName(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct{ run, want string }{
		{"make test", "make test"},
		{"  make test  ", "make test"},
		{"set -e\nmake\n", "set -e …"},
		{"\n\nmake\n", "make"},
		{long, strings.Repeat("a", 59) + "…"},
		{strings.Repeat("a", 60), strings.Repeat("a", 60)},
		{strings.Repeat("a", 59) + "\nb", strings.Repeat("a", 59) + "…"},
		{strings.Repeat("é", 70), strings.Repeat("é", 59) + "…"},
	}
	for _, tt := range tests {
		if got := stepName(tt.run); got != tt.want {
			t.Errorf("stepName(%q) = %q, want %q", tt.run, got, tt.want)
		}
		if n := len([]rune(stepName(tt.run))); n > 60 {
			t.Errorf("stepName(%q) has %d characters", tt.run, n)
		}
	}
}

func TestDescribe(t *testing.T) {
	f, err := Parse(".gantry.yml", readTestdata(t, ".gantry.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		plan func() (*Plan, error)
		want string
	}{
		{"pipeline", func() (*Plan, error) { return f.Pipeline("nightly") }, `pipeline nightly
  image:     golang:1.26-bookworm
  services:  minio (minio/minio:latest), redis (redis:7)
  resources: mysql, s3-bucket
  env:       CGO_ENABLED=0 GOFLAGS=-count=1 SLOW_TESTS=1
  timeout:   2h
  artifacts: build/logs/*.xml, coverage.out
  setup:
    1. go mod download
  steps:
    2. go vet ./...
    3. go test ./...
`},
		{"deploy with a multi-line step", func() (*Plan, error) { return f.Deploy("production") }, `deploy production
  image:     alpine/k8s:1.31
  services:  redis (redis:7)
  resources: mysql
  env:       CGO_ENABLED=0 GOFLAGS=-mod=readonly TARGET=production
  timeout:   30m
  branch:    production
  approval:  required by the stage
  artifacts: build/logs/*.xml, coverage.out
  steps:
    1. set -eu
       ./deploy.sh "$TARGET"
`},
		{"bare", func() (*Plan, error) {
			return mustParse(t, "deploy: {qa: {steps: [make]}}\n").Deploy("qa")
		}, `deploy qa
  image:     (not set: the runner's default)
  timeout:   30m
  branch:    (the repository's default branch)
  approval:  as the server config says
  steps:
    1. make
`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.plan()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, p.Describe()); diff != "" {
				t.Errorf("Describe (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		30 * time.Minute:                "30m",
		time.Hour:                       "1h",
		90 * time.Minute:                "1h30m",
		45 * time.Second:                "45s",
		time.Hour + 30*time.Second:      "1h0m30s",
		24 * time.Hour:                  "24h",
		1500 * time.Millisecond:         "1.5s",
		2*time.Hour + 5*time.Minute + 0: "2h5m",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
