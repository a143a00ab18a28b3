package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// spoolMemory is how much of a webhook body is held in memory before the
// rest goes to a temporary file. GitHub's payloads are mostly a few KiB:
// only large ones, or a stranger's, touch the disk.
const spoolMemory = 1 << 20

// spool holds a request body while its signature is not yet known: the
// first spoolMemory bytes in memory, the rest in a temporary file in dir,
// so that many large bodies from strangers cost disk, not memory. It is
// not safe for concurrent use.
type spool struct {
	dir  string
	mem  bytes.Buffer
	file *os.File
	size int64
	// fileErr is why the file could not be made; the body then stays in
	// memory, which the cap on concurrent bodies still bounds.
	fileErr error
}

func (s *spool) Write(p []byte) (int, error) {
	n := len(p)
	if room := spoolMemory - s.mem.Len(); s.file == nil && room > 0 {
		k := min(room, len(p))
		s.mem.Write(p[:k])
		p = p[k:]
	}
	if len(p) > 0 {
		if err := s.spill(p); err != nil {
			return n - len(p), err
		}
	}
	s.size += int64(n)
	return n, nil
}

// spill writes p past the in-memory part: to the file, made on first use.
func (s *spool) spill(p []byte) error {
	if s.file == nil && s.fileErr == nil {
		s.file, s.fileErr = os.CreateTemp(s.dir, "gantry-webhook-*")
	}
	if s.file == nil {
		s.mem.Write(p)
		return nil
	}
	if _, err := s.file.Write(p); err != nil {
		return fmt.Errorf("spool webhook body: %w", err)
	}
	return nil
}

// Bytes returns the whole body. Call it only once the body is trusted: a
// spooled body comes back into memory whole.
func (s *spool) Bytes() ([]byte, error) {
	if s.file == nil {
		return s.mem.Bytes(), nil
	}
	out := make([]byte, s.size)
	n := copy(out, s.mem.Bytes())
	if _, err := s.file.ReadAt(out[n:], 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read spooled webhook body: %w", err)
	}
	return out, nil
}

// Close removes the file, if one was made.
func (s *spool) Close() error {
	if s.file == nil {
		return nil
	}
	name := s.file.Name()
	err := s.file.Close()
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	s.file = nil
	return err
}
