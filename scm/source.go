// Package scm finds a job's source: it resolves a repository and a ref to a
// commit and reads that commit's .gantry.yml, from a local git checkout, a
// plain directory, or GitHub. It also reports back to GitHub.
package scm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/spec"
)

// SpecFile is the name of the repository file gantry reads.
const SpecFile = ".gantry.yml"

// Source is a repository resolved at one commit, with its .gantry.yml.
type Source struct {
	Repo     string // configured name, or the path typed in the console
	Ref      string
	SHA      string // "" for plain directories
	Kind     jobs.SourceKind
	Path     string
	CloneURL string
	GitHub   string // owner/name when the repo is read through GitHub
	SpecName string // where .gantry.yml came from, for messages: "hello/.gantry.yml"
	Spec     []byte
	Message  string // the commit's subject line; "" when unknown
}

// Parse parses the source's .gantry.yml.
func (s *Source) Parse() (*spec.File, error) {
	return spec.Parse(s.SpecName, s.Spec)
}

// GitHubReader reads from GitHub: it resolves refs and reads files there.
type GitHubReader interface {
	Resolve(ctx context.Context, repo, ref string) (sha, cloneURL, defaultBranch string, err error)
	ReadFile(ctx context.Context, repo, sha, path string) ([]byte, error)
	// CommitMessage is the message of commit sha; a failure leaves the
	// job without one, it does not stop it.
	CommitMessage(ctx context.Context, repo, sha string) (string, error)
}

// Resolver turns what people type into a Source.
type Resolver struct {
	live   *atomic.Pointer[spec.Server] // read afresh for each look-up
	github GitHubReader                 // nil: GitHub repos are read from their path
}

// NewResolver returns a resolver for the repositories of cfg. gh may be nil
// when no GitHub access is configured.
func NewResolver(cfg *spec.Server, gh GitHubReader) *Resolver {
	live := new(atomic.Pointer[spec.Server])
	live.Store(cfg)
	return NewLiveResolver(live, gh)
}

// NewLiveResolver returns a resolver for the repositories of the config
// in live, which a reload may swap for another at any time.
func NewLiveResolver(live *atomic.Pointer[spec.Server], gh GitHubReader) *Resolver {
	return &Resolver{live: live, github: gh}
}

// Resolve finds repo at ref ("" for its default). Local paths are allowed
// only when allowPaths is set (the console): chat text never names a path
// on the server.
func (r *Resolver) Resolve(ctx context.Context, repo, ref string, allowPaths bool) (*Source, error) {
	if rc, ok := r.live.Load().Repos[repo]; ok {
		if rc.GitHub != "" && r.github != nil {
			if ref == "" {
				ref = rc.DefaultBranch // "" still: GitHub's own default branch
			}
			return r.resolveGitHub(ctx, repo, rc, ref)
		}
		if rc.Path == "" {
			return nil, jobs.Userf("repo %s is on GitHub (%s) but gantry has no GitHub access configured (GITHUB_TOKEN)", repo, rc.GitHub)
		}
		return resolvePath(ctx, repo, rc.Path, ref, rc.DefaultBranch)
	}
	if !allowPaths || !looksLikePath(repo) {
		return nil, jobs.Userf("I don't know a repo called %q; known repos: %s", repo, strings.Join(r.names(), ", "))
	}
	return resolvePath(ctx, repo, repo, ref, "")
}

func (r *Resolver) names() []string {
	repos := r.live.Load().Repos
	names := make([]string, 0, len(repos))
	for n := range repos {
		names = append(names, n)
	}
	if len(names) == 0 {
		return []string{"(none configured)"}
	}
	sort.Strings(names)
	return names
}

func looksLikePath(s string) bool {
	return strings.ContainsRune(s, '/') || strings.HasPrefix(s, ".")
}

func (r *Resolver) resolveGitHub(ctx context.Context, name string, rc spec.Repo, ref string) (*Source, error) {
	sha, cloneURL, def, err := r.github.Resolve(ctx, rc.GitHub, ref)
	if err != nil {
		return nil, err
	}
	if ref == "" {
		ref = def
	}
	data, err := r.github.ReadFile(ctx, rc.GitHub, sha, SpecFile)
	if err != nil {
		return nil, err
	}
	msg, _ := r.github.CommitMessage(ctx, rc.GitHub, sha)
	return &Source{
		Repo: name, Ref: ref, SHA: sha, Kind: jobs.SourceGitHub, CloneURL: cloneURL, GitHub: rc.GitHub,
		Path: rc.Path, SpecName: name + "/" + SpecFile, Spec: data, Message: Subject(msg),
	}, nil
}

// resolvePath reads a local directory: a git checkout is resolved at ref
// (else defaultRef, else its current branch), a plain directory is taken as
// it is.
func resolvePath(ctx context.Context, name, path, ref, defaultRef string) (*Source, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, jobs.Userf("%s is not a usable path", path)
	}
	fi, err := os.Stat(abs)
	if err != nil || !fi.IsDir() {
		return nil, jobs.Userf("%s is not a directory", name)
	}
	// Messages name the repo as people typed it, never the server's path.
	specName := name + "/" + SpecFile
	if _, err := os.Stat(filepath.Join(abs, ".git")); err != nil {
		if ref != "" {
			return nil, jobs.Userf("%s is a plain directory, not a git checkout: it has no refs, so drop @%s", name, ref)
		}
		data, err := readSpecFile(filepath.Join(abs, SpecFile), name)
		if err != nil {
			return nil, err
		}
		return &Source{Repo: name, Kind: jobs.SourceDir, Path: abs, SpecName: specName, Spec: data}, nil
	}
	if ref == "" {
		ref = defaultRef
	}
	if ref == "" {
		out, err := gitOutput(ctx, abs, "symbolic-ref", "--quiet", "--short", "HEAD")
		if err != nil {
			ref = "HEAD"
		} else {
			ref = out
		}
	}
	sha, err := gitOutput(ctx, abs, "rev-parse", "--verify", "--quiet", "--end-of-options", ref+"^{commit}")
	if err != nil {
		return nil, jobs.Userf("%s has no branch, tag or commit called %q", name, ref)
	}
	data, err := readSpecBlob(ctx, abs, name, ref, sha)
	if err != nil {
		return nil, err
	}
	msg, _ := gitOutput(ctx, abs, "log", "-1", "--format=%s", sha, "--")
	return &Source{Repo: name, Ref: ref, SHA: sha, Kind: jobs.SourceGit, Path: abs, SpecName: specName, Spec: data, Message: Subject(msg)}, nil
}

// maxSubject is the longest commit subject kept with a job, in characters.
const maxSubject = 200

// Subject is the first line of a commit message, cut to a sensible length.
func Subject(msg string) string {
	msg, _, _ = strings.Cut(strings.TrimSpace(msg), "\n")
	msg = strings.TrimSpace(msg)
	if r := []rune(msg); len(r) > maxSubject {
		return string(r[:maxSubject-1]) + "…"
	}
	return msg
}

// tooLarge refuses a file bigger than spec.MaxFileSize, naming it (what),
// its size and the limit.
func tooLarge(what string, size int64) error {
	return jobs.Userf("%s is %d bytes; gantry reads files of at most %d bytes (%d MiB)",
		what, size, spec.MaxFileSize, spec.MaxFileSize>>20)
}

// readSpecFile reads a plain directory's .gantry.yml. Its size is checked
// on the opened file before anything is read, and no more than the limit
// is read even if it grows meanwhile. Only a regular file is read: a FIFO
// or a device would block or never end (it is opened without blocking, so
// even a FIFO with no writer cannot hold gantry here).
func readSpecFile(path, name string) ([]byte, error) {
	specName := name + "/" + SpecFile
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, jobs.Userf("%s has no %s", name, SpecFile)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", specName, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, jobs.Userf("%s is not a regular file", specName)
	}
	if fi.Size() > spec.MaxFileSize {
		return nil, tooLarge(specName, fi.Size())
	}
	data, err := io.ReadAll(io.LimitReader(f, spec.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", specName, err)
	}
	if len(data) > spec.MaxFileSize {
		return nil, tooLarge(specName, int64(len(data)))
	}
	return data, nil
}

// readSpecBlob reads .gantry.yml at commit sha of a checkout, after git
// has told its type and size: a blob above the limit is never read.
func readSpecBlob(ctx context.Context, dir, name, ref, sha string) ([]byte, error) {
	specName := name + "/" + SpecFile
	missing := jobs.Userf("%s has no %s at %s (%s)", name, SpecFile, ref, sha[:7])
	out, err := gitOutput(ctx, dir, "ls-tree", "-l", "--full-tree", sha, "--", SpecFile)
	if err != nil {
		return nil, fmt.Errorf("list %s at %s: %w", specName, sha[:7], err)
	}
	if out == "" {
		return nil, missing
	}
	// "<mode> <type> <object> <size>\t<path>"; size is "-" for a tree.
	meta, _, _ := strings.Cut(out, "\t")
	fields := strings.Fields(meta)
	if len(fields) != 4 || fields[1] != "blob" {
		return nil, jobs.Userf("%s at %s is not a file", specName, sha[:7])
	}
	size, err := strconv.ParseInt(fields[3], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("size of %s at %s: git said %q", specName, sha[:7], out)
	}
	if size > spec.MaxFileSize {
		return nil, tooLarge(specName, size)
	}
	return gitOutputBytes(ctx, dir, "cat-file", "blob", fields[2])
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	b, err := gitOutputBytes(ctx, dir, args...)
	return strings.TrimSpace(string(b)), err
}

func gitOutputBytes(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("git %s: %s", args[0], bytes.TrimSpace(stderr.Bytes()))
		}
		return nil, fmt.Errorf("git %s: %w", args[0], err)
	}
	return out, nil
}
