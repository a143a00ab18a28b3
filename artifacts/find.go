// Package artifacts finds the files a job keeps after its steps (the
// .gantry.yml artifacts: patterns), within limits, and stores them: in a
// local directory that gantry's web server serves (Dir), or in S3
// (artifacts/s3). It also reads the job's test reports (see Gather).
//
// The workspace is the build's, and gantry does not trust the build: files
// are found and opened through an os.Root on the workspace, so no pattern,
// symlink or rename can reach a file outside it.
package artifacts

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Limits bound what one job keeps. Zero values are the defaults.
type Limits struct {
	MaxFiles int   // 0 is DefaultMaxFiles
	MaxBytes int64 // all files together; 0 is DefaultMaxBytes
}

// Defaults of Limits.
const (
	DefaultMaxFiles = 100
	DefaultMaxBytes = 100 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultMaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// File is one file found: its path relative to the workspace, with
// slashes, and its size when it was found.
type File struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Found is what Find found.
type Found struct {
	Files []File
	// Notes say what was left out and why: a limit hit, a symlink that
	// points out of the workspace. Plain sentences for the log and the page.
	Notes []string
	// LimitHit is set when a limit left files out.
	LimitHit bool
}

// Match reports whether name (slash-separated, relative) matches pattern:
// path.Match for each segment, and a "**" segment for any number of
// directories (none included).
func Match(pattern, name string) bool {
	return matchParts(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchParts(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchParts(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// couldMatch reports whether some file under directory dir could match
// one of the patterns, so the walk can skip the rest.
func couldMatch(patterns []string, dir string) bool {
	parts := strings.Split(dir, "/")
	for _, p := range patterns {
		pp := strings.Split(p, "/")
		ok := true
		for i, d := range parts {
			if i >= len(pp) {
				ok = false
				break
			}
			if pp[i] == "**" {
				break
			}
			if m, err := path.Match(pp[i], d); err != nil || !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// maxWalk bounds the entries looked at in one workspace, so a build that
// makes millions of files cannot keep gantry walking.
const maxWalk = 1_000_000

// Find walks the workspace root for regular files that match any of the
// patterns, in lexical order, keeping files until a limit would be passed.
// A symlink is followed only where it stays inside the workspace; one that
// points out of it is left out, and a note says so. Directories are never
// entered through symlinks.
func Find(root *os.Root, patterns []string, lim Limits) (Found, error) {
	lim = lim.withDefaults()
	var out Found
	if len(patterns) == 0 {
		return out, nil
	}
	var total int64
	var leftFiles int
	var leftBytes int64
	var why string
	seen := 0
	fsys := root.FS()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." {
				return err
			}
			return nil // unreadable: not collected
		}
		if seen++; seen > maxWalk {
			return errWalkBudget
		}
		if d.IsDir() {
			if p != "." && !couldMatch(patterns, p) {
				return fs.SkipDir
			}
			return nil
		}
		if !slices.ContainsFunc(patterns, func(pat string) bool { return Match(pat, p) }) {
			return nil
		}
		var info fs.FileInfo
		if d.Type()&fs.ModeSymlink != 0 {
			// Stat through the root: it refuses a link that leads out.
			info, err = root.Stat(p)
			if err != nil {
				out.Notes = append(out.Notes, fmt.Sprintf("%s not kept: it is a symlink that points outside the workspace (or nowhere)", p))
				return nil
			}
		} else if info, err = d.Info(); err != nil {
			return nil
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		size := info.Size()
		switch {
		case len(out.Files) >= lim.MaxFiles:
			why = fmt.Sprintf("max_files (%d files)", lim.MaxFiles)
		case total+size > lim.MaxBytes:
			if why == "" {
				why = fmt.Sprintf("max_bytes (%s)", Bytes(lim.MaxBytes))
			}
		default:
			out.Files = append(out.Files, File{Path: p, Size: size})
			total += size
			return nil
		}
		leftFiles++
		leftBytes += size
		return nil
	})
	if errors.Is(err, errWalkBudget) {
		out.Notes = append(out.Notes, fmt.Sprintf("the workspace has more than %d entries: stopped looking", maxWalk))
		err = nil
	}
	if leftFiles > 0 {
		out.LimitHit = true
		out.Notes = append(out.Notes, fmt.Sprintf("artifact limit %s reached: kept %d files (%s), left out %d more (%s)",
			why, len(out.Files), Bytes(total), leftFiles, Bytes(leftBytes)))
	}
	return out, err
}

var errWalkBudget = errors.New("walk budget spent")

// Bytes writes n for people: 512 B, 3.2 KiB, 100 MiB.
func Bytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<10))) + " KiB"
	case n < 1<<30:
		return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<20))) + " MiB"
	}
	return trimZero(fmt.Sprintf("%.1f", float64(n)/(1<<30))) + " GiB"
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }
