// Package docs_test checks gantry's documentation: the README and the
// guides under docs/ link only to files of this repository that exist (or
// to web addresses), so the docs stand alone, and their YAML examples are
// files gantry accepts.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// mdLink finds Markdown links and images: [text](target) and ![alt](target).
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// TestDocsLinkOnlyInsideTheRepository: the README once pointed at a
// design document outside the repository.
func TestDocsLinkOnlyInsideTheRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{filepath.Join(root, "README.md"), filepath.Join(root, "BENCHMARKS.md")}
	more, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append(files, more...)
	more, _ = filepath.Glob(filepath.Join(root, "deploy", "*", "README.md"))
	files = append(files, more...)
	if len(files) < 8 {
		t.Fatalf("found only %d documents: %v", len(files), files)
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range mdLink.FindAllStringSubmatch(string(data), -1) {
			target := m[1]
			if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, _, _ := strings.Cut(target, "#")
			if path == "" {
				continue // an anchor in the same document
			}
			abs := filepath.Clean(filepath.Join(filepath.Dir(f), path))
			if abs != root && !strings.HasPrefix(abs, root+string(filepath.Separator)) {
				t.Errorf("%s links to %s, outside the repository", rel, target)
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s links to %s, which does not exist", rel, target)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d links; the link pattern is wrong", checked)
	}
}
