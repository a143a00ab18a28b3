package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/gantry-ci/gantry/spec"
)

// Where GANTRY_CONFIG may point:
//
//	/etc/gantry/gantry.yml   a file (a mounted volume, or next to gantry)
//	s3://BUCKET/KEY          an S3 object, read with gantry's own role
//	ssm:NAME                 an SSM parameter by name (ssm:/gantry/config) or ARN, decrypted if a SecureString
//
// An image then carries no config: the same image runs every role, and
// the config changes without a rebuild. S3 and SSM are reached through the
// SDK's own configuration chain (AWS_REGION, the task role,
// AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_SSM).
const (
	s3ConfigScheme  = "s3://"
	ssmConfigScheme = "ssm:"
	// configReadTimeout bounds reading a remote config, the SDK's retries
	// included, so a start-up that cannot reach S3 or SSM says so.
	configReadTimeout = 30 * time.Second
)

// readConfig reads the server config that GANTRY_CONFIG names: a file, an
// S3 object or an SSM parameter. isFile says whether it came from a file,
// whose directory relative repo paths are resolved against. Any failure is
// a settingError naming GANTRY_CONFIG.
func (m *Main) readConfig(where string) (data []byte, isFile bool, err error) {
	if !isRemoteConfig(where) {
		// At most what the parser takes, as gantry check reads it.
		data, err = readAtMost(where, spec.MaxFileSize)
		if err != nil {
			return nil, false, &settingError{"GANTRY_CONFIG", fmt.Sprintf("cannot read %s: %v", where, err)}
		}
		return data, true, nil
	}
	if data, err = readRemoteConfig(where); err != nil {
		return nil, false, &settingError{"GANTRY_CONFIG", err.Error()}
	}
	return data, false, nil
}

// remoteAWS loads the SDK's configuration for reading the config at where.
func remoteAWS(ctx context.Context, where string) (aws.Config, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("cannot load the AWS configuration to read %s: %v", where, err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("%s needs AWS_REGION (the region of the bucket or parameter), which is not set", where)
	}
	return cfg, nil
}

// isRemoteConfig says whether where names an S3 object or an SSM
// parameter rather than a file.
func isRemoteConfig(where string) bool {
	return strings.HasPrefix(where, s3ConfigScheme) || strings.HasPrefix(where, ssmConfigScheme)
}

// readRemoteConfig reads the S3 object or SSM parameter where names.
func readRemoteConfig(where string) ([]byte, error) {
	if strings.HasPrefix(where, s3ConfigScheme) {
		return readS3Config(where)
	}
	return readSSMConfig(where)
}

// parseS3Config splits s3://BUCKET/KEY.
func parseS3Config(where string) (bucket, key string, err error) {
	rest := strings.TrimPrefix(where, s3ConfigScheme)
	bucket, key, ok := strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return "", "", fmt.Errorf("%q is not an S3 object: write s3://BUCKET/KEY, e.g. s3://acme-gantry/gantry.yml", where)
	}
	return bucket, key, nil
}

func readS3Config(where string) ([]byte, error) {
	bucket, key, err := parseS3Config(where)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), configReadTimeout)
	defer cancel()
	cfg, err := remoteAWS(ctx, where)
	if err != nil {
		return nil, err
	}
	out, err := awss3.NewFromConfig(cfg).GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %s", where, explainS3(bucket, key, err))
	}
	defer out.Body.Close()
	// At most what the parser takes: a wrong key (a build artifact, say)
	// is not read whole.
	data, err := io.ReadAll(io.LimitReader(out.Body, spec.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %v", where, err)
	}
	if len(data) > spec.MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d MiB, the most gantry reads of a config: is it the server config?", where, spec.MaxFileSize>>20)
	}
	return data, nil
}

// explainS3 says in a few words why S3 refused, where it is one of the
// usual reasons, else the SDK's error.
func explainS3(bucket, key string, err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Sprintf("there is no object %s in bucket %s", key, bucket)
		case "NoSuchBucket":
			return fmt.Sprintf("there is no bucket %s", bucket)
		case "AccessDenied", "Forbidden":
			// S3 answers a missing key this way too when the caller may
			// not list the bucket.
			return fmt.Sprintf("access denied: gantry's role needs s3:GetObject on arn:aws:s3:::%s/%s (and kms:Decrypt if the object is encrypted with a KMS key); without s3:ListBucket on the bucket, S3 also says this when there is no such key", bucket, key)
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
		return fmt.Sprintf("there is no object %s in bucket %s", key, bucket)
	}
	return oneLine(err)
}

func readSSMConfig(where string) ([]byte, error) {
	name := strings.TrimPrefix(where, ssmConfigScheme)
	if name == "" || strings.HasPrefix(name, "//") {
		return nil, fmt.Errorf("%q is not an SSM parameter: write ssm:NAME, e.g. ssm:/gantry/config (or ssm:ARN)", where)
	}
	ctx, cancel := context.WithTimeout(context.Background(), configReadTimeout)
	defer cancel()
	cfg, err := remoteAWS(ctx, where)
	if err != nil {
		return nil, err
	}
	out, err := ssm.NewFromConfig(cfg).GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %s", where, explainSSM(name, err))
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("cannot read %s: SSM returned no value", where)
	}
	return []byte(*out.Parameter.Value), nil
}

func explainSSM(name string, err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "ParameterNotFound":
			return fmt.Sprintf("there is no SSM parameter %s in this region", name)
		case "AccessDeniedException":
			return fmt.Sprintf("access denied: gantry's role needs ssm:GetParameter on parameter %s (and kms:Decrypt if it is a SecureString under a customer key)", name)
		}
	}
	return oneLine(err)
}

// oneLine keeps an error on the one line a setting error has.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
