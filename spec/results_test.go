package spec

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReports(t *testing.T) {
	src := `artifacts: ["build/**/*.log", dist/app]
reports: {junit: ["build/test-results/**/*.xml"]}
pipelines:
  branch:
    steps: [make test]
    reports: {junit: [e2e/report.xml, "build/test-results/**/*.xml"]}
  pr: {steps: [make]}
`
	f, err := Parse(".gantry.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Pipeline("branch")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"build/test-results/**/*.xml", "e2e/report.xml"}, p.Reports.JUnit); diff != "" {
		t.Errorf("branch reports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"build/**/*.log", "dist/app"}, p.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	pr, _ := f.Pipeline("pr")
	if diff := cmp.Diff([]string{"build/test-results/**/*.xml"}, pr.Reports.JUnit); diff != "" {
		t.Errorf("pr reports (-want +got):\n%s", diff)
	}
	if d := p.Describe(); !strings.Contains(d, "junit:     build/test-results/**/*.xml, e2e/report.xml") {
		t.Errorf("Describe does not show the reports:\n%s", d)
	}
}

// No pattern may reach outside the workspace: each escape is refused with
// its file and line.
func TestParseResultPatternsEscaping(t *testing.T) {
	const ok = "pipelines:\n  branch: {steps: [a]}\n"
	tests := []struct{ name, src, want string }{
		{"artifact absolute", "artifacts: [/etc/passwd]\n" + ok,
			`.gantry.yml:1: artifacts: "/etc/passwd" must be relative to the repository root, not an absolute path`},
		{"artifact parent", "artifacts:\n  - ok.txt\n  - ../secrets/*\n" + ok,
			`.gantry.yml:3: artifacts: "../secrets/*" must stay inside the repository (no "..")`},
		{"artifact parent in the middle", "artifacts: ['build/**/../../../x']\n" + ok,
			`.gantry.yml:1: artifacts: "build/**/../../../x" must stay inside the repository (no "..")`},
		{"junit absolute", "reports:\n  junit: [/tmp/r.xml]\n" + ok,
			`.gantry.yml:2: junit in reports: "/tmp/r.xml" must be relative to the repository root, not an absolute path`},
		{"junit parent in a stage", "pipelines:\n  branch:\n    steps: [a]\n    reports: {junit: [../r.xml]}\n",
			`.gantry.yml:4: junit in reports in pipeline "branch": "../r.xml" must stay inside the repository (no "..")`},
		{"star star inside a name", "artifacts: ['build/a**.xml']\n" + ok,
			`.gantry.yml:1: artifacts: "build/a**.xml" uses ** inside a name: ** stands for whole directories only (build/**/*.xml)`},
		{"unknown report kind", "reports: {junit: [a.xml], tap: [b]}\n" + ok,
			`.gantry.yml:1: unknown key "tap" in reports (known keys: junit)`},
		{"reports a list", "reports: [a.xml]\n" + ok, `.gantry.yml:1: reports: must be a mapping, not a list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(".gantry.yml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse accepted %q", tt.src)
			}
			if diff := cmp.Diff([]string{tt.want}, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseServerArtifacts(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte("artifacts:\n  bucket: acme-ci\n  prefix: /gantry/jobs/\n  max_files: 10\n  max_bytes: 5MiB\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Artifacts{Bucket: "acme-ci", Prefix: "gantry/jobs", MaxFiles: 10, MaxBytes: 5 << 20}
	if diff := cmp.Diff(want, s.Artifacts); diff != "" {
		t.Errorf("artifacts (-want +got):\n%s", diff)
	}
	if d := DefaultServer().Artifacts; d.MaxFiles != 100 || d.MaxBytes != 100<<20 {
		t.Errorf("defaults = %+v, want 100 files and 100 MiB", d)
	}

	for _, tt := range []struct{ src, want string }{
		{"artifacts:\n  bucket: Acme_CI\n", `gantry.yml:2: bucket in artifacts: "Acme_CI" is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)`},
		{"artifacts:\n  dir: /var/gantry\n  max_files: 0\n", `gantry.yml:3: max_files in artifacts: must be a whole number from 1 to 100000, not the number 0`},
		{"artifacts:\n  max_bytes: lots\n", `gantry.yml:2: max_bytes in artifacts: must be a size such as 100MiB or a number of bytes from 1 to 1099511627776, not the string "lots"`},
		{"artifacts:\n  prefix: a/../b\n", `gantry.yml:2: prefix in artifacts: "a/../b" is not a key prefix (a relative path such as gantry/artifacts)`},
		{"artifacts:\n  bukket: x\n", `gantry.yml:2: unknown key "bukket" in artifacts (did you mean "bucket"?)`},
	} {
		_, err := ParseServer("gantry.yml", []byte(tt.src))
		if err == nil || err.Error() != tt.want {
			t.Errorf("ParseServer(%q) = %v, want %s", tt.src, err, tt.want)
		}
	}
}
