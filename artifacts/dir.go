package artifacts

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
)

// Dir keeps artifacts in a local directory, one directory per job
// (DIR/JOB/PATH), for gantry's web server to serve.
type Dir struct {
	Path string
}

// StoreDir is Results.Store for artifacts kept in a Dir.
const StoreDir = "dir"

// Save copies files from the workspace root into DIR/JOB, replacing what
// an earlier attempt of the job kept.
func (d Dir) Save(ctx context.Context, job int64, root *os.Root, files []File) (string, error) {
	dst := filepath.Join(d.Path, strconv.FormatInt(job, 10))
	if err := os.RemoveAll(dst); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dst, 0o750); err != nil {
		return "", err
	}
	out, err := os.OpenRoot(dst)
	if err != nil {
		return "", err
	}
	defer out.Close()
	for i := range files {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := copyFile(root, out, files[i].Path)
		if err != nil {
			return "", fmt.Errorf("copy %s: %w", files[i].Path, err)
		}
		files[i].Size = n // what was kept, if the file changed since
	}
	return StoreDir, nil
}

// copyFile copies name from one root to the other, at most the size found
// (a file that grows meanwhile is cut there).
func copyFile(from, to *os.Root, name string) (int64, error) {
	in, err := from.Open(name)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return 0, err
	}
	if !info.Mode().IsRegular() {
		return 0, fmt.Errorf("not a regular file")
	}
	if dir := path.Dir(name); dir != "." {
		if err := to.MkdirAll(dir, 0o750); err != nil {
			return 0, err
		}
	}
	out, err := to.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o640)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(in, info.Size()))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Open opens artifact name of job for reading; it cannot reach outside
// the job's directory.
func (d Dir) Open(job int64, name string) (*os.File, error) {
	r, err := os.OpenRoot(filepath.Join(d.Path, strconv.FormatInt(job, 10)))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.Open(name)
}
