package spec

import (
	"strings"
	"testing"
)

// ServerKeys and FileKeys, which `gantry check` tells the files apart by,
// are the keys the parsers take: each is read (no "unknown key"), and a
// key of neither is refused.
func TestKeyListsAreTheParsersOwn(t *testing.T) {
	for _, k := range ServerKeys() {
		_, err := ParseServer("gantry.yml", []byte(k+": ~\n"))
		if err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("server key %q: %v", k, err)
		}
	}
	for _, k := range FileKeys() {
		_, err := Parse(".gantry.yml", []byte(k+": ~\npipelines: {branch: {steps: [make]}}\n"))
		if err != nil && strings.Contains(err.Error(), "unknown key") {
			t.Errorf("file key %q: %v", k, err)
		}
	}
	if _, err := ParseServer("gantry.yml", []byte("concurrency: 2\n")); err == nil || !strings.Contains(err.Error(), `unknown key "concurrency"`) {
		t.Errorf("a key of neither list was taken: %v", err)
	}
}

func TestIsServerConfig(t *testing.T) {
	for _, tt := range []struct {
		in     string
		server bool
	}{
		{"repos: {app: {path: x}}\n", true},
		{"events: {max_age: 1h}\n", true},
		{"artifacts: {bucket: b}\n", true},
		{"artifacts: [dist/**]\n", false},
		{"schedules: {n: {cron: '@daily', repo: app, pipeline: p}}\n", true},
		{"schedules: {n: {cron: '@daily', pipeline: p}}\npipelines: {p: {steps: [make]}}\n", false},
		{"pipelines: {branch: {steps: [make]}}\nworkers: 2\nimage: x\n", false},
		{"workerz: 2\n", true},
		{"pipelinez: {}\n", false},
		{"", false},
		{"[a, b]\n", false},
		{"{{{\n", false},
	} {
		if got := IsServerConfig([]byte(tt.in)); got != tt.server {
			t.Errorf("IsServerConfig(%q) = %v, want %v", tt.in, got, tt.server)
		}
	}
}

// Checked for one plan, a file is checked for the file-wide settings and
// that plan only: a build is not refused for a pool only nightly needs.
func TestCheckServerOfOnePlan(t *testing.T) {
	f, err := Parse("app/.gantry.yml", []byte("pipelines:\n  branch: {steps: [make]}\n  nightly:\n    resources: [mysql]\n    steps: [make soak]\ndeploy:\n  qa: {steps: [./deploy]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseServer("/etc/gantry/gantry.yml", []byte("workers: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.CheckServer(s, CrossCheck{Plans: []string{"branch"}}); err != nil {
		t.Errorf("branch: %v", err)
	}
	if err := f.CheckServer(s, CrossCheck{Plans: []string{"deploy qa"}, AnyEnv: true}); err != nil {
		t.Errorf("deploy qa, any environment: %v", err)
	}
	want := "app/.gantry.yml:4: resources in pipeline \"nightly\": pool \"mysql\" is not defined in gantry.yml, which defines no pools\n" +
		"app/.gantry.yml:7: deploy stage \"qa\": environment \"qa\" is not defined in gantry.yml, which defines no environments, so no one can deploy there"
	if err := f.CheckServer(s, CrossCheck{}); err == nil || err.Error() != want {
		t.Errorf("whole file:\n got %v\nwant %s", err, want)
	}
	// Without a gantry.yml the message says so, rather than blame a file
	// that is not there.
	want = "app/.gantry.yml:4: resources in pipeline \"nightly\": pool \"mysql\" is not defined: no gantry.yml is loaded (GANTRY_CONFIG names it), and gantry's built-in defaults have no pools"
	if err := f.CheckServer(DefaultServer(), CrossCheck{Plans: []string{"nightly"}}); err == nil || err.Error() != want {
		t.Errorf("defaults:\n got %v\nwant %s", err, want)
	}
}
