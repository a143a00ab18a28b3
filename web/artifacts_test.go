package web_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/artifacts/s3"
	"github.com/gantry-ci/gantry/internal/s3server"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/reports"
	"github.com/gantry-ci/gantry/web"
)

func (f *fixture) results(t *testing.T, j *jobs.Job, r artifacts.Results) {
	t.Helper()
	if err := f.store.Update(context.Background(), j.ID, "", "", jobs.Set().Results(r)); err != nil {
		t.Fatal(err)
	}
}

var someTests = &reports.Summary{Passed: 412, Failed: 3, Skipped: 2, Failures: []reports.Failure{
	{Name: "api.TestCreate", Message: "want <b>204</b>", Output: "<script>alert(1)</script>"},
	{Name: "api.TestDelete", Output: "boom"},
}}

// The page lists the counts and the failing tests with their output,
// escaped, and links each artifact; the link downloads it under the job
// page's signature, and nothing else does.
func TestArtifactsFromTheDir(t *testing.T) {
	dir := &artifacts.Dir{Path: t.TempDir()}
	f := newFixture(t, false, func(d *web.Deps) { d.Artifacts = web.Artifacts{Dir: dir} })
	j := f.job(t, "built")
	other := f.job(t, "other")
	if err := os.MkdirAll(filepath.Join(dir.Path, "1", "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir.Path, "1", "dist", "app.bin"), []byte("BINARY"), 0o644)
	os.WriteFile(filepath.Join(dir.Path, "1", "unlisted.txt"), []byte("not in the record"), 0o644)
	f.results(t, j, artifacts.Results{Tests: someTests, Store: artifacts.StoreDir,
		Files: []artifacts.File{{Path: "dist/app.bin", Size: 6}},
		Notes: []string{"artifact limit max_files (1 files) reached: kept 1 files (6 B), left out 1 more (3 B)"}})

	code, page := get(t, f.path(f.links.Job(j.ID)))
	if code != 200 {
		t.Fatalf("page: %d", code)
	}
	for _, want := range []string{
		`<p id="test-counts">412 passed, 3 failed, 2 skipped</p>`,
		`<code class="test-name">api.TestCreate</code> — want &lt;b&gt;204&lt;/b&gt;`,
		`<pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>`,
		`<code class="test-name">api.TestDelete</code>`,
		`and 1 more failing tests`,
		`artifact limit max_files (1 files) reached: kept 1 files (6 B), left out 1 more (3 B)`,
		`<a href="/jobs/1/artifacts/dist/app.bin?exp=`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)") {
		t.Error("a test's output reached the page unescaped")
	}

	link := f.links.Artifact(j.ID, "dist/app.bin")
	resp, err := http.Get(f.path(link))
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 64)
	n, _ := resp.Body.Read(body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body[:n]) != "BINARY" || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("download: %d %q %v", resp.StatusCode, body[:n], resp.Header)
	}

	// The link rules of the page hold: unsigned, forged, another job's.
	signedOther := f.links.Artifact(other.ID, "dist/app.bin")
	for name, u := range map[string]string{
		"unsigned":            f.srv.URL + web.ArtifactPath(j.ID, "dist/app.bin"),
		"forged":              strings.Replace(f.path(link), "sig=", "sig=0", 1),
		"another job's sig":   f.srv.URL + web.ArtifactPath(j.ID, "dist/app.bin") + "?" + strings.SplitN(signedOther, "?", 2)[1],
		"a file not recorded": f.path(f.links.Artifact(j.ID, "unlisted.txt")),
		"a path out":          f.path(f.links.Artifact(j.ID, "../2/x")),
	} {
		code, _ := get(t, u)
		if code == 200 {
			t.Errorf("%s: served", name)
		}
	}
	f.now = f.now.Add(2 * time.Hour)
	if code, _ := get(t, f.path(link)); code != http.StatusForbidden {
		t.Errorf("an expired link: %d, want 403", code)
	}
}

// Artifacts in S3: the page's link redirects to a presigned link, which
// downloads the file from the bucket.
func TestArtifactsFromS3(t *testing.T) {
	srv := s3server.New(t, "ci")
	b := s3.Bucket{Client: s3.NewClient(srv.AWSConfig(), srv.URL()), Name: "ci", Prefix: "jobs"}
	f := newFixture(t, false, func(d *web.Deps) {
		d.Artifacts = web.Artifacts{Presign: func(ctx context.Context, store string, job int64, name string) (string, error) {
			if store != b.Where(job) {
				t.Errorf("store %q, want %q", store, b.Where(job))
			}
			return b.Presign(ctx, job, name, time.Minute)
		}}
	})
	j := f.job(t, "built")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "coverage.txt"), []byte("87%"), 0o644)
	res, err := artifacts.Gather(context.Background(), j.ID, dir, artifacts.Plan{Artifacts: []string{"*.txt"}}, artifacts.Limits{}, b, "", func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	f.results(t, j, res)
	code, body := get(t, f.path(f.links.Artifact(j.ID, "coverage.txt")))
	if code != 200 || body != "87%" {
		t.Errorf("download through the redirect: %d %q", code, body)
	}
}
