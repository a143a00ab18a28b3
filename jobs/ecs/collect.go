package ecs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/artifacts/s3"
	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/reports"
)

// Results of ECS jobs come back through the job container's log: after
// the steps, stepScript runs `gantry collect` in the task (the binary the
// fetch container copied to toolPath). It reads the JUnit reports there,
// uploads the artifacts to S3 with the task's own role (so no file passes
// through gantry), and prints what it found as one framed line,
// "##gantry:MARKER:results:BASE64(JSON)", of at most maxResultsLine bytes,
// which the runner takes out of the log and records. The frame was chosen
// over reading the reports back from S3 because reports must come back
// when there is no bucket as well; the reports are summarised (and their
// failures capped) in the task, so the frame stays small.

// Where the tool goes, and the variables that drive it.
const (
	toolPath   = workspacePath + "/.gantry/gantry"
	collectVar = "GANTRY_COLLECT" // JSON CollectSpec in the job container's overrides
)

// maxResultsLine bounds the framed results line, well under CloudWatch's
// 256 KiB per event.
const maxResultsLine = 64 << 10

// CollectSpec is what `gantry collect` does in a task: the job's patterns,
// limits, and the bucket (none: artifacts are not kept, and the log says
// so).
type CollectSpec struct {
	Job       int64    `json:"job"`
	Marker    string   `json:"marker"`
	Artifacts []string `json:"artifacts,omitempty"`
	JUnit     []string `json:"junit,omitempty"`
	MaxFiles  int      `json:"max_files,omitempty"`
	MaxBytes  int64    `json:"max_bytes,omitempty"`
	Bucket    string   `json:"bucket,omitempty"`
	Prefix    string   `json:"prefix,omitempty"`
	Endpoint  string   `json:"endpoint,omitempty"`
}

// ArtifactsConfig is where ECS jobs' artifacts go.
type ArtifactsConfig struct {
	Bucket, Prefix, Endpoint string // no bucket: not kept (the log says why)
	Limits                   artifacts.Limits
}

// noBucket is what the log says of artifacts on ECS without a bucket.
const noBucket = "artifacts are not kept: on the ECS runner they need an S3 bucket (artifacts: {bucket: NAME} in the server config)"

// collectSpec is the job's CollectSpec, or nil when it keeps nothing.
func (r *Runner) collectSpec(j *jobs.Job) *CollectSpec {
	p := j.Plan
	if len(p.Artifacts) == 0 && len(p.Reports.JUnit) == 0 {
		return nil
	}
	a := r.cfg.Artifacts
	return &CollectSpec{Job: j.ID, Marker: marker(j), Artifacts: p.Artifacts, JUnit: p.Reports.JUnit,
		MaxFiles: a.Limits.MaxFiles, MaxBytes: a.Limits.MaxBytes, Bucket: a.Bucket, Prefix: a.Prefix, Endpoint: a.Endpoint}
}

// Collect is `gantry collect`: it runs in the job container after the
// steps, in the work tree dir, and writes its lines and the framed
// results to out. awsConfig loads the task's AWS configuration (its role)
// when there is a bucket.
func Collect(ctx context.Context, spec CollectSpec, dir string, awsConfig func(context.Context) (aws.Config, error), out io.Writer) error {
	var save artifacts.Saver
	if spec.Bucket != "" && len(spec.Artifacts) > 0 {
		cfg, err := awsConfig(ctx)
		if err != nil {
			fmt.Fprintf(out, "── artifacts are not kept: cannot load the task's AWS configuration: %v\n", err)
		} else {
			save = s3.Bucket{Client: s3.NewClient(cfg, spec.Endpoint), Name: spec.Bucket, Prefix: spec.Prefix}
		}
	}
	say := func(line string) { fmt.Fprintln(out, "── "+line) }
	res, err := artifacts.Gather(ctx, spec.Job, dir, artifacts.Plan{Artifacts: spec.Artifacts, JUnit: spec.JUnit},
		artifacts.Limits{MaxFiles: spec.MaxFiles, MaxBytes: spec.MaxBytes}, save, noBucket, say)
	if err != nil {
		say("artifacts could not be kept: " + err.Error())
		res.Notes = append(res.Notes, "artifacts could not be kept: "+err.Error())
	}
	line, err := resultsLine(spec.Marker, res)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, line)
	return err
}

// resultsLine frames res, dropping failure output, then notes and failures,
// until it fits maxResultsLine.
func resultsLine(token string, res artifacts.Results) (string, error) {
	for try := 0; ; try++ {
		b, err := json.Marshal(res)
		if err != nil {
			return "", err
		}
		line := "##gantry:" + token + ":results:" + base64.StdEncoding.EncodeToString(b)
		if len(line) <= maxResultsLine {
			return line, nil
		}
		switch {
		case res.Tests != nil && try == 0:
			t := *res.Tests
			t.Failures = append([]reports.Failure(nil), t.Failures...)
			for i := range t.Failures {
				t.Failures[i].Output = ""
			}
			res.Tests = &t
		case len(res.Notes) > 0:
			res.Notes = res.Notes[:len(res.Notes)/2]
		case len(res.Files) > 0:
			res.Files = res.Files[:len(res.Files)/2]
			res.Notes = []string{"the list of artifacts was cut to fit the log"}
		case res.Tests != nil && len(res.Tests.Failures) > 0:
			res.Tests.Failures = res.Tests.Failures[:len(res.Tests.Failures)/2]
		default:
			return "", fmt.Errorf("results do not fit in %d bytes", maxResultsLine)
		}
	}
}

// parseResults reads a framed results line of the job's task. What the
// task says is the build's word, so it is checked: artifacts must be in
// the job's own place in the configured bucket, with clean relative
// paths, within the limits.
func (r *Runner) parseResults(j *jobs.Job, line, token string) (artifacts.Results, bool) {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "##gantry:"+token+":results:")
	if !ok {
		return artifacts.Results{}, false
	}
	var res artifacts.Results
	b, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(b) > maxResultsLine || json.Unmarshal(b, &res) != nil {
		return artifacts.Results{Notes: []string{"the task's results could not be read"}}, true
	}
	if t := res.Tests; t != nil {
		if len(t.Failures) > reports.MaxFailures {
			t.Failures = t.Failures[:reports.MaxFailures]
		}
		t.Passed, t.Failed, t.Skipped = max(t.Passed, 0), max(t.Failed, len(t.Failures)), max(t.Skipped, 0)
	}
	want := ""
	if a := r.cfg.Artifacts; a.Bucket != "" {
		want = s3.Bucket{Name: a.Bucket, Prefix: a.Prefix}.Where(j.ID)
	}
	lim := r.cfg.Artifacts.Limits
	maxFiles := lim.MaxFiles
	if maxFiles <= 0 {
		maxFiles = artifacts.DefaultMaxFiles
	}
	if res.Store != want || want == "" || len(res.Files) > maxFiles {
		res.Store, res.Files = "", nil
	}
	for _, f := range res.Files {
		if f.Path == "" || path.Clean(f.Path) != f.Path || strings.HasPrefix(f.Path, "/") || strings.HasPrefix(f.Path, "../") || f.Path == ".." {
			res.Store, res.Files = "", nil
			break
		}
	}
	if len(res.Notes) > 20 {
		res.Notes = res.Notes[:20]
	}
	return res, true
}
