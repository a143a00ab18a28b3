package ecs_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/gantry-ci/gantry/artifacts/s3"
	"github.com/gantry-ci/gantry/internal/s3server"
	"github.com/gantry-ci/gantry/jobs/ecs"
)

// collectMain is `gantry collect` in the job container. A task's role
// would give it credentials; here they are static keys, and the endpoint
// is the fake S3's, from the job's collect spec.
func collectMain() int {
	var spec ecs.CollectSpec
	if err := json.Unmarshal([]byte(os.Getenv("GANTRY_COLLECT")), &spec); err != nil {
		fmt.Println("gantry: GANTRY_COLLECT:", err)
		return 1
	}
	dir, _ := os.Getwd()
	load := func(context.Context) (aws.Config, error) {
		return aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDTASK", "secret", "")}, nil
	}
	if err := ecs.Collect(context.Background(), spec, dir, load, os.Stdout); err != nil {
		fmt.Println("gantry:", err)
		return 1
	}
	return 0
}

const taskJUnit = `<testsuites><testsuite name="api">
<testcase classname="api.Orders" name="TestList"/>
<testcase classname="api.Orders" name="TestCancel"><failure message="status 500">orders_test.go:77: status 500 &lt;html&gt;</failure></testcase>
<testcase classname="api.Orders" name="TestRefund"><skipped/></testcase>
</testsuite></testsuites>`

// A failing job on the ECS runner: the task itself uploads the artifacts
// to the bucket and reports the tests through its log; the record keeps
// the counts, the failing test and the files, which download from the
// bucket by a presigned link; a link out of the workspace is not kept.
func TestECSResultsThroughTheTask(t *testing.T) {
	f := newFixture(t)
	f.runLocally()
	bucket := s3server.New(t, "ci-artifacts")
	r := f.runner(func(c *ecs.Config) {
		c.Artifacts = ecs.ArtifactsConfig{Bucket: "ci-artifacts", Prefix: "gantry", Endpoint: bucket.URL()}
	})
	outside := t.TempDir() + "/secret.txt"
	write(t, outside, "not an artifact")
	report := strings.ReplaceAll(taskJUnit, "\n", "")
	j := f.job(
		"mkdir -p out/reports dist && printf '%s' '"+report+"' > out/reports/junit.xml",
		"echo built > dist/app.txt && ln -s "+outside+" dist/leak.txt && exit 2",
	)
	j.Plan.Artifacts = []string{"dist/*"}
	j.Plan.Reports.JUnit = []string{"out/**/*.xml"}
	code, err, log := f.run(context.Background(), r, j)
	if err != nil || code != 2 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	for _, want := range []string{
		"── tests: 1 passed, 1 failed, 1 skipped (from 1 report file)",
		"── dist/leak.txt not kept: it is a symlink that points outside the workspace (or nowhere)",
		"── kept 1 artifact (6 B)",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, ":results:") {
		t.Errorf("the framed results reached the log:\n%s", log)
	}
	got, err := f.store.Get(context.Background(), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	res := got.Results
	if res == nil || res.Tests == nil || res.Tests.Counts() != "1 passed, 1 failed, 1 skipped" {
		t.Fatalf("results = %+v", res)
	}
	if fl := res.Tests.Failures; len(fl) != 1 || fl[0].Name != "api.Orders.TestCancel" || fl[0].Output != "orders_test.go:77: status 500 <html>" {
		t.Errorf("failures = %+v", fl)
	}
	if res.Store != fmt.Sprintf("s3://ci-artifacts/gantry/%d/", j.ID) || len(res.Files) != 1 || res.Files[0].Path != "dist/app.txt" {
		t.Errorf("artifacts: %q %+v", res.Store, res.Files)
	}
	if keys := bucket.Keys("ci-artifacts", ""); len(keys) != 1 {
		t.Errorf("bucket holds %q, want the one artifact", keys)
	}
	b := s3.Bucket{Client: s3.NewClient(bucket.AWSConfig(), bucket.URL()), Name: "ci-artifacts", Prefix: "gantry"}
	u, err := b.Presign(context.Background(), j.ID, "dist/app.txt", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "built\n" {
		t.Errorf("download: %d %q", resp.StatusCode, body)
	}
}

// Without a bucket, an ECS job's reports still come back; the log says
// that artifacts need a bucket.
func TestECSWithoutABucket(t *testing.T) {
	f := newFixture(t)
	f.runLocally()
	report := strings.ReplaceAll(taskJUnit, "\n", "")
	j := f.job("mkdir dist && echo x > dist/a && printf '%s' '" + report + "' > r.xml")
	j.Plan.Artifacts = []string{"dist/*"}
	j.Plan.Reports.JUnit = []string{"r.xml"}
	code, err, log := f.run(context.Background(), f.runner(), j)
	if err != nil || code != 0 {
		t.Fatalf("code %d, err %v\n%s", code, err, log)
	}
	if !strings.Contains(log, "artifacts are not kept: on the ECS runner they need an S3 bucket (artifacts: {bucket: NAME} in the server config)") {
		t.Errorf("the log does not say artifacts need a bucket:\n%s", log)
	}
	got, _ := f.store.Get(context.Background(), j.ID)
	if got.Results == nil || got.Results.Tests == nil || got.Results.Tests.Failed != 1 || len(got.Results.Files) != 0 {
		t.Errorf("results = %+v", got.Results)
	}
}
