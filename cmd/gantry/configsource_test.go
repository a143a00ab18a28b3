package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/gantry-ci/gantry/internal/awsserver"
	"github.com/gantry-ci/gantry/internal/s3server"
	"github.com/gantry-ci/gantry/spec"
)

// remoteConfig is a server config whose repo has a relative path: read
// from a file it is resolved against the file's directory, read from S3 or
// SSM it is left as written.
const remoteConfig = `repos:
  hello:
    path: examples/hello
    channel: C0123456789
environments:
  staging: { deployers: ["*"] }
workers: 3
`

// configWorld points the SDK's own configuration chain (as gantry loads
// it) at awsserver for SSM and at s3server for S3, and returns both.
func configWorld(t *testing.T) (*awsserver.Server, *s3server.Server) {
	t.Helper()
	aws := awsserver.New(t)
	aws.SetEnv()
	s3 := s3server.New(t, "acme-gantry")
	t.Setenv("AWS_ENDPOINT_URL_S3", s3.URL())
	return aws, s3
}

// putObject stores an object with the real S3 client, as `aws s3 cp` would.
func putObject(t *testing.T, srv *s3server.Server, bucket, key, body string) {
	t.Helper()
	c := awss3.NewFromConfig(srv.AWSConfig(), func(o *awss3.Options) { o.BaseEndpoint = aws.String(srv.URL()); o.UsePathStyle = true })
	if _, err := c.PutObject(context.Background(), &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
		t.Fatal(err)
	}
}

func loadWith(t *testing.T, where string) (*spec.Server, error) {
	t.Helper()
	m := &Main{Getenv: func(k string) string {
		if k == "GANTRY_CONFIG" {
			return where
		}
		return ""
	}}
	return m.loadConfig()
}

func checkRemoteConfig(t *testing.T, cfg *spec.Server) {
	t.Helper()
	if cfg.Workers != 3 {
		t.Errorf("workers = %d, want 3 (the config was not the one stored)", cfg.Workers)
	}
	if got := cfg.Repos["hello"].Path; got != "examples/hello" {
		t.Errorf("repos.hello.path = %q, want it left as written (only a file's directory resolves a relative path)", got)
	}
	if _, ok := cfg.Environments["staging"]; !ok {
		t.Errorf("environments = %v, want staging", cfg.Environments)
	}
}

func TestConfigFromS3Loads(t *testing.T) {
	_, s3 := configWorld(t)
	putObject(t, s3, "acme-gantry", "config/gantry.yml", remoteConfig)
	cfg, err := loadWith(t, "s3://acme-gantry/config/gantry.yml")
	if err != nil {
		t.Fatal(err)
	}
	checkRemoteConfig(t, cfg)
}

func TestConfigFromSSMLoads(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "String", true: "SecureString"}[secure], func(t *testing.T) {
			srv, _ := configWorld(t)
			arn := srv.PutParameter("/gantry/config", remoteConfig, secure)
			for _, where := range []string{"ssm:/gantry/config", "ssm:" + arn} {
				cfg, err := loadWith(t, where)
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				checkRemoteConfig(t, cfg)
			}
			var in ssm.GetParameterInput
			calls := srv.Calls("GetParameter")
			if len(calls) == 0 {
				t.Fatal("no call reached the SSM server")
			}
			if err := calls[0].Decode(&in); err != nil {
				t.Fatal(err)
			}
			if in.WithDecryption == nil || !*in.WithDecryption {
				t.Error("GetParameter was called without WithDecryption: a SecureString config would come back encrypted")
			}
		})
	}
}

// A file config still resolves a relative repo path against its directory.
func TestConfigFromFileResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gantry.yml")
	if err := os.WriteFile(path, []byte(remoteConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadWith(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Repos["hello"].Path, filepath.Join(dir, "examples/hello"); got != want {
		t.Errorf("repos.hello.path = %q, want %q", got, want)
	}
}

// A config that is not there stops start-up with one line that names
// GANTRY_CONFIG and says what is missing, as `gantry worker` prints it.
func TestConfigMissingIsOneSettingLine(t *testing.T) {
	srv, s3 := configWorld(t)
	putObject(t, s3, "acme-gantry", "other.yml", remoteConfig)
	srv.PutParameter("/gantry/other", remoteConfig, false)
	for _, tc := range []struct{ where, want string }{
		{"s3://acme-gantry/config/gantry.yml", "gantry: GANTRY_CONFIG: cannot read s3://acme-gantry/config/gantry.yml: there is no object config/gantry.yml in bucket acme-gantry"},
		{"s3://no-such-bucket/gantry.yml", "gantry: GANTRY_CONFIG: cannot read s3://no-such-bucket/gantry.yml: there is no bucket no-such-bucket"},
		{"ssm:/gantry/config", "gantry: GANTRY_CONFIG: cannot read ssm:/gantry/config: there is no SSM parameter /gantry/config in this region"},
		{"s3://acme-gantry", `gantry: GANTRY_CONFIG: "s3://acme-gantry" is not an S3 object: write s3://BUCKET/KEY`},
		{"ssm:", `gantry: GANTRY_CONFIG: "ssm:" is not an SSM parameter: write ssm:NAME`},
	} {
		t.Run(tc.where, func(t *testing.T) {
			var stderr bytes.Buffer
			m := &Main{Args: []string{"worker"}, Stdout: &bytes.Buffer{}, Stderr: &stderr, Getenv: func(k string) string {
				return map[string]string{"GANTRY_CONFIG": tc.where}[k]
			}}
			code := m.Run(context.Background())
			_ = m.Close()
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			out := stderr.String()
			if !strings.HasPrefix(out, tc.want) {
				t.Errorf("stderr:\n%s\nwant it to start with:\n%s", out, tc.want)
			}
			if n := strings.Count(strings.TrimSuffix(out, "\n"), "\n"); n != 0 {
				t.Errorf("the error takes %d lines, want one:\n%s", n+1, out)
			}
		})
	}
}

// Without a region the SDK cannot find the bucket or parameter: the line
// says so and names the setting.
func TestConfigRemoteWithoutRegion(t *testing.T) {
	configWorld(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	_, err := loadWith(t, "ssm:/gantry/config")
	if err == nil || !strings.Contains(err.Error(), "GANTRY_CONFIG: ssm:/gantry/config needs AWS_REGION") {
		t.Fatalf("err = %v, want GANTRY_CONFIG: … needs AWS_REGION", err)
	}
}

// TestCheckReadsTheConfigGANTRYCONFIGNames: `gantry check` took only
// files, so the config gantry on AWS reads (ssm:, s3://) could not be
// checked where it is kept.
func TestCheckReadsTheConfigGANTRYCONFIGNames(t *testing.T) {
	srv, s3 := configWorld(t)
	srv.PutParameter("/gantry/config", remoteConfig, true)
	putObject(t, s3, "acme-gantry", "gantry.yml", remoteConfig)
	repo := filepath.Join(t.TempDir(), ".gantry.yml")
	if err := os.WriteFile(repo, []byte("deploy:\n  qa: {steps: [make deploy]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{"ssm:/gantry/config", "s3://acme-gantry/gantry.yml"} {
		code, out, errOut := runMain(t, "check", where)
		if code != 0 || !strings.Contains(out, where+": valid server config") || !strings.Contains(out, "workers: 3") {
			t.Errorf("check %s: exit %d\n%s%s", where, code, out, errOut)
		}
		code, _, errOut = runMain(t, "check", "--server", where, repo)
		if code != 1 || !strings.Contains(errOut, `environment "qa" is not defined in `+where) {
			t.Errorf("check --server %s: exit %d, want the repo file's qa refused against it:\n%s", where, code, errOut)
		}
	}
	code, _, errOut := runMain(t, "check", "ssm:/gantry/nothing")
	if code != 1 || !strings.Contains(errOut, "gantry check: cannot read ssm:/gantry/nothing: there is no SSM parameter /gantry/nothing in this region") {
		t.Errorf("check of a missing parameter: exit %d, %s", code, errOut)
	}
}
