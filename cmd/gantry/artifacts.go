package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gantry-ci/gantry/artifacts"
	"github.com/gantry-ci/gantry/artifacts/s3"
	"github.com/gantry-ci/gantry/web"
)

// artifactStores sets where jobs' artifacts go: the server config's
// bucket (through the SDK's own configuration chain), else a local
// directory: artifacts.dir, or gantry/artifacts in the cache dir of the
// user gantry runs as.
func (m *Main) artifactStores(ctx context.Context, p *parts) error {
	a := p.cfg.Artifacts
	if a.Bucket != "" {
		cfg, err := m.loadAWS(ctx)
		if err != nil {
			return &settingError{"artifacts.bucket", fmt.Sprintf("cannot load the AWS configuration for S3: %v", err)}
		}
		if cfg.Region == "" {
			return &settingError{"AWS_REGION", "is not set: artifacts.bucket needs the region of the bucket"}
		}
		p.bucket = &s3.Bucket{Client: s3.NewClient(cfg, a.Endpoint), Name: a.Bucket, Prefix: a.Prefix}
		return nil
	}
	dir := a.Dir
	if dir == "" {
		// The cache dir of the user gantry runs as (not of the steps).
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
			m.logger.Warn("no user cache dir: artifacts are kept under the temp dir (set artifacts.dir)", "err", err)
		}
		dir = filepath.Join(cache, "gantry", "artifacts")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return &settingError{"artifacts.dir", err.Error()}
	}
	p.artifactDir = &artifacts.Dir{Path: abs}
	return nil
}

// saver is where the local runner stores artifacts.
func (p *parts) saver() artifacts.Saver {
	if p.bucket != nil {
		return p.bucket
	}
	if p.artifactDir != nil {
		return p.artifactDir
	}
	return nil
}

func (p *parts) artifactLimits() artifacts.Limits {
	return artifacts.Limits{MaxFiles: p.cfg.Artifacts.MaxFiles, MaxBytes: p.cfg.Artifacts.MaxBytes}
}

// presignFor is how long a presigned link the web server hands out works:
// the page's own link is what lasts.
const presignFor = 10 * time.Minute

// webArtifacts is where the web server finds artifacts.
func (p *parts) webArtifacts() web.Artifacts {
	var w web.Artifacts
	w.Dir = p.artifactDir
	if b := p.bucket; b != nil {
		w.Presign = func(ctx context.Context, store string, job int64, name string) (string, error) {
			if store != b.Where(job) {
				// Kept under another bucket or prefix (the config changed):
				// that bucket is reached with the same client.
				bucket, prefix, ok := s3.ParseWhere(store)
				if !ok {
					return "", fmt.Errorf("artifacts of job %d are in %q, not an S3 location", job, store)
				}
				other := s3.Bucket{Client: b.Client, Name: bucket}
				return other.PresignKey(ctx, prefix+name, presignFor)
			}
			return b.Presign(ctx, job, name, presignFor)
		}
	}
	return w
}

// artifactLink is the signed link to a job's artifact, or nil without a
// web server.
func (p *parts) artifactLink() func(int64, string) string {
	if p.links == nil {
		return nil
	}
	return p.links.Artifact
}
