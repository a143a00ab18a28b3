package spec

import (
	"strings"
	"testing"
	"time"
)

func TestPipelinePreview(t *testing.T) {
	f, err := Parse("x.yml", []byte("pipelines:\n  pr:\n    steps: [make]\n    preview: {run: ./serve, port: 8080, ttl: 4h}\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.Pipeline("pr")
	if err != nil {
		t.Fatal(err)
	}
	if p.Preview == nil || *p.Preview != (Preview{Run: "./serve", Port: 8080, TTL: 4 * time.Hour}) {
		t.Fatalf("preview = %+v", p.Preview)
	}
	for _, bad := range []string{
		"pipelines:\n  pr:\n    steps: [make]\n    preview: {port: 8080}\n",
		"pipelines:\n  pr:\n    steps: [make]\n    preview: {run: x}\n",
		"pipelines:\n  pr:\n    steps: [make]\n    preview: {run: x, port: 8080, where: y}\n",
		"pipelines:\n  pr:\n    steps: [make]\n    preview: {run: x, port: 80, ttl: 30d}\n",
		"deploy:\n  staging:\n    steps: [make]\n    preview: {run: x, port: 80}\n",
	} {
		if _, err := Parse("x.yml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "preview") {
			t.Errorf("%q: err = %v, want a problem with preview", bad, err)
		}
	}
}

func TestServerPreviews(t *testing.T) {
	s, err := ParseServer("gantry.yml", []byte("previews: {max: 2, ttl: 90m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Previews.PreviewMax() != 2 || s.Previews.PreviewTTL() != 90*time.Minute {
		t.Fatalf("previews = %+v", s.Previews)
	}
	if d, _ := ParseServer("gantry.yml", []byte("repos: {}\n")); d != nil && (d.Previews.PreviewMax() != 5 || d.Previews.PreviewTTL() != 4*time.Hour) {
		t.Fatalf("defaults = %+v", d.Previews)
	}
	if _, err := ParseServer("gantry.yml", []byte("previews: {max: 0}\n")); err == nil {
		t.Fatal("max 0 accepted")
	}
}
