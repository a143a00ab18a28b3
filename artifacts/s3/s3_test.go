package s3_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/artifacts/s3"
	"github.com/gantry-ci/gantry/internal/s3server"
)

func TestSaveAndPresign(t *testing.T) {
	srv := s3server.New(t, "ci-artifacts")
	b := s3.Bucket{Client: s3.NewClient(srv.AWSConfig(), srv.URL()), Name: "ci-artifacts", Prefix: "gantry/jobs"}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "dist", "app.txt"), []byte("hello artifact"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := artifacts.Gather(context.Background(), 42, dir, artifacts.Plan{Artifacts: []string{"dist/*"}}, artifacts.Limits{}, b, "", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	if res.Store != "s3://ci-artifacts/gantry/jobs/42/" {
		t.Errorf("store = %q", res.Store)
	}
	if got := string(srv.Object("ci-artifacts", "gantry/jobs/42/dist/app.txt")); got != "hello artifact" {
		t.Errorf("object = %q", got)
	}
	url, err := b.Presign(context.Background(), 42, "dist/app.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "hello artifact" {
		t.Errorf("GET %s = %d %q", url, resp.StatusCode, body)
	}
}
