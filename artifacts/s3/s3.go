// Package s3 stores a job's artifacts in an S3 bucket, under
// PREFIX/JOB/PATH, and hands out short-lived presigned links to them.
//
// The ECS runner uploads from inside the task, with the task's role
// (`gantry collect`); the local runner uploads from the workspace. Either
// way the files go from disk to S3, never through gantry's memory whole.
package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/gantry-ci/gantry/artifacts"
)

// Bucket is where artifacts go.
type Bucket struct {
	Client *awss3.Client
	Name   string
	Prefix string // without slashes at either end; "" is none
}

// NewClient returns an S3 client for cfg; with an endpoint (an
// S3-compatible server) it addresses buckets path-style.
func NewClient(cfg aws.Config, endpoint string) *awss3.Client {
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true
		}
	})
}

// Key is the object key of artifact name of job.
func (b Bucket) Key(job int64, name string) string {
	return path.Join(b.Prefix, strconv.FormatInt(job, 10), name)
}

// Where is Results.Store for job's artifacts in the bucket.
func (b Bucket) Where(job int64) string {
	return "s3://" + b.Name + "/" + b.Key(job, "") + "/"
}

// Save uploads files from the workspace root, one object each, streamed
// from disk.
func (b Bucket) Save(ctx context.Context, job int64, root *os.Root, files []artifacts.File) (string, error) {
	for i := range files {
		if err := b.put(ctx, root, job, &files[i]); err != nil {
			return "", err
		}
	}
	return b.Where(job), nil
}

func (b Bucket) put(ctx context.Context, root *os.Root, job int64, f *artifacts.File) error {
	in, err := root.Open(f.Path)
	if err != nil {
		return fmt.Errorf("open %s: %w", f.Path, err)
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", f.Path)
	}
	// The size found is what is sent: a file that grew since is cut there.
	size := min(info.Size(), f.Size)
	_, err = b.Client.PutObject(ctx, &awss3.PutObjectInput{
		Bucket: aws.String(b.Name), Key: aws.String(b.Key(job, f.Path)),
		Body: io.NewSectionReader(in, 0, size), ContentLength: aws.Int64(size),
		ContentType: aws.String(contentType(f.Path)),
	})
	if err != nil {
		return fmt.Errorf("upload %s to s3://%s/%s: %w", f.Path, b.Name, b.Key(job, f.Path), err)
	}
	f.Size = size
	return nil
}

// Presign returns a link to artifact name of job that works for ttl.
func (b Bucket) Presign(ctx context.Context, job int64, name string, ttl time.Duration) (string, error) {
	return b.PresignKey(ctx, b.Key(job, name), ttl)
}

// PresignKey returns a link to the object key that works for ttl.
func (b Bucket) PresignKey(ctx context.Context, key string, ttl time.Duration) (string, error) {
	req, err := awss3.NewPresignClient(b.Client).PresignGetObject(ctx, &awss3.GetObjectInput{
		Bucket: aws.String(b.Name), Key: aws.String(key),
	}, awss3.WithPresignExpires(ttl))
	if err != nil {
		return "", err
	}
	return req.URL, nil
}

// ParseWhere reads Results.Store of an S3 store: bucket and the job's key
// prefix.
func ParseWhere(where string) (bucket, prefix string, ok bool) {
	rest, ok := strings.CutPrefix(where, "s3://")
	if !ok {
		return "", "", false
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	return bucket, prefix, bucket != ""
}

// contentType is text/plain for what browsers should show, else a
// download: an artifact is never served as HTML from a bucket.
func contentType(name string) string {
	switch strings.ToLower(path.Ext(name)) {
	case ".txt", ".log", ".xml", ".json", ".out", ".csv", ".md":
		return "text/plain; charset=utf-8"
	}
	return "application/octet-stream"
}
