// Package s3server is an S3 wire-compatible test server (gofakes3 with an
// in-memory backend) for the real aws-sdk-go-v2 S3 client:
//
//	srv := s3server.New(t, "artifacts")   // buckets made up front; closed when the test ends
//	client := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) { o.BaseEndpoint = aws.String(srv.URL()); o.UsePathStyle = true })
//
// Buckets are addressed path-style (URL/BUCKET/KEY). Signatures are not
// checked, so presigned URLs work over plain HTTP GETs.
package s3server

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// Server is a running fake S3.
type Server struct {
	t       testing.TB
	http    *httptest.Server
	backend *s3mem.Backend
}

// New starts a server holding the named buckets; it stops when the test ends.
func New(t testing.TB, buckets ...string) *Server {
	t.Helper()
	be := s3mem.New()
	for _, b := range buckets {
		if err := be.CreateBucket(b); err != nil {
			t.Fatalf("s3server: create bucket %s: %v", b, err)
		}
	}
	fake := gofakes3.New(be, gofakes3.WithTimeSkewLimit(0))
	hs := httptest.NewServer(fake.Server())
	t.Cleanup(hs.Close)
	return &Server{t: t, http: hs, backend: be}
}

// URL is the server's base URL: the S3 endpoint.
func (s *Server) URL() string { return s.http.URL }

// AWSConfig is an SDK config with static credentials and region
// us-east-1; set the endpoint per client (BaseEndpoint, path-style).
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	}
}

// Env is what a child process needs to reach the server with the SDK's
// default chain: static keys, region and the S3 endpoint.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=secret", "AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL_S3=" + s.URL(),
	}
}

// Object returns the content of key in bucket, failing the test when it
// is missing.
func (s *Server) Object(bucket, key string) []byte {
	s.t.Helper()
	obj, err := s.backend.GetObject(bucket, key, nil)
	if err != nil {
		s.t.Fatalf("s3server: get s3://%s/%s: %v", bucket, key, err)
	}
	defer obj.Contents.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(obj.Contents); err != nil {
		s.t.Fatalf("s3server: read s3://%s/%s: %v", bucket, key, err)
	}
	return b.Bytes()
}

// Keys lists the keys in bucket under prefix.
func (s *Server) Keys(bucket, prefix string) []string {
	s.t.Helper()
	res, err := s.backend.ListBucket(bucket, &gofakes3.Prefix{HasPrefix: true, Prefix: prefix}, gofakes3.ListBucketPage{})
	if err != nil {
		s.t.Fatalf("s3server: list s3://%s/%s: %v", bucket, prefix, err)
	}
	var keys []string
	for _, c := range res.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}
