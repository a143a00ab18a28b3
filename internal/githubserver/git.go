package githubserver

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// AddGitRepo creates the repository fullName ("owner/name") backed by the
// git repository in dir (a work tree or a bare repository). Its branches,
// tags, commits and files are git's own, read again whenever a request or
// a method of the server looks at the repository, so commits made in dir
// later show up with their real SHAs. Its clone URL is dir as a file://
// URL, so `git clone` of it works and checks out the same SHAs the API
// reports. The default branch is dir's current branch ("main" when HEAD is
// detached).
//
// Commits of a git-backed repository are made with git, not AddCommit,
// AddTag or DeleteBranch, which report misuse for it.
func (s *Server) AddGitRepo(fullName, dir string) {
	s.tb.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		s.errorf("AddGitRepo: %s: %v", dir, err)
		return
	}
	if _, err := runGit(abs, nil, "rev-parse", "--git-dir"); err != nil {
		s.errorf("AddGitRepo: %s is not a git repository: %v", dir, err)
		return
	}
	def := "main"
	if out, err := runGit(abs, nil, "symbolic-ref", "--quiet", "--short", "HEAD"); err == nil && len(bytes.TrimSpace(out)) > 0 {
		def = string(bytes.TrimSpace(out))
	}
	s.AddRepo(fullName, def)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(fullName)]
	if r == nil {
		return // AddRepo reported why
	}
	r.gitDir = abs
	if err := s.syncGitLocked(r); err != nil {
		s.errorf("AddGitRepo: %v", err)
	}
}

// gitBackedLocked reports misuse of a method that changes a git-backed
// repository's commits: the test should use git instead.
func (s *Server) gitBackedLocked(method string, r *repo) bool {
	if r.gitDir == "" {
		return false
	}
	s.errorf("%s: %s is backed by the git repository %s: commit there with git", method, r.fullName(), r.gitDir)
	return true
}

// cloneURL is the clone_url the server reports for r.
func (s *Server) cloneURL(r *repo) string {
	if r.gitDir != "" {
		return "file://" + filepath.ToSlash(r.gitDir)
	}
	return s.http.URL + "/" + r.fullName() + ".git"
}

// refreshLocked brings a git-backed repository up to date with its git
// directory; it does nothing for others. A failure is logged, and the
// repository is served as it was last read.
func (s *Server) refreshLocked(r *repo) {
	if r == nil || r.gitDir == "" || s.closed {
		return
	}
	if err := s.syncGitLocked(r); err != nil {
		s.tb.Logf("githubserver: %v", err)
	}
}

// syncGitLocked reads the refs of r's git directory and every commit they
// reach that the server has not seen yet.
func (s *Server) syncGitLocked(r *repo) error {
	out, err := runGit(r.gitDir, nil, "for-each-ref", "--format=%(objectname) %(*objectname) %(refname)", "refs/heads", "refs/tags")
	if err != nil {
		return fmt.Errorf("read refs of %s in %s: %w", r.fullName(), r.gitDir, err)
	}
	if string(out) == r.gitRefs && len(r.commits) > 0 {
		return nil
	}
	branches, tags := map[string]string{}, map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		sha, ref := f[0], f[len(f)-1]
		if len(f) == 3 {
			sha = f[1] // an annotated tag: the commit it points at
		}
		if name, ok := strings.CutPrefix(ref, "refs/heads/"); ok {
			branches[name] = sha
		} else if name, ok := strings.CutPrefix(ref, "refs/tags/"); ok {
			tags[name] = sha
		}
	}
	if len(branches)+len(tags) > 0 {
		if err := s.importCommitsLocked(r); err != nil {
			return err
		}
	}
	for name, sha := range tags {
		if r.commits[sha] == nil {
			delete(tags, name) // a tag of something other than a commit
		}
	}
	r.branches, r.tags, r.gitRefs = branches, tags, string(out)
	s.notifyLocked()
	return nil
}

// importCommitsLocked adds the commits reachable from r's branches and tags
// that it does not have yet.
func (s *Server) importCommitsLocked(r *repo) error {
	out, err := runGit(r.gitDir, nil, "log", "--branches", "--tags", "--format=%H%x1f%P%x1f%ct%x1f%an%x1f%ae%x1f%s")
	if err != nil {
		return fmt.Errorf("list commits of %s in %s: %w", r.fullName(), r.gitDir, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\x1f")
		if len(f) != 6 || r.commits[f[0]] != nil {
			continue
		}
		files, err := gitTree(r.gitDir, f[0])
		if err != nil {
			return fmt.Errorf("read commit %s of %s: %w", f[0], r.fullName(), err)
		}
		parent, _, _ := strings.Cut(f[1], " ")
		secs, _ := strconv.ParseInt(f[2], 10, 64)
		r.commits[f[0]] = &Commit{SHA: f[0], Parent: parent, Author: f[3], Email: f[4], Message: f[5], Files: files, Time: time.Unix(secs, 0).UTC()}
	}
	return nil
}

// gitTree returns every file of commit sha in dir with its content.
func gitTree(dir, sha string) (map[string]string, error) {
	out, err := runGit(dir, nil, "ls-tree", "-r", "-z", "--full-tree", sha)
	if err != nil {
		return nil, err
	}
	var (
		names []string
		blobs bytes.Buffer
	)
	for _, entry := range bytes.Split(out, []byte{0}) {
		meta, name, ok := bytes.Cut(entry, []byte{'\t'})
		f := strings.Fields(string(meta))
		if !ok || len(f) != 3 || f[1] != "blob" {
			continue // submodules have no content here
		}
		names = append(names, string(name))
		blobs.WriteString(f[2] + "\n")
	}
	files := make(map[string]string, len(names))
	if len(names) == 0 {
		return files, nil
	}
	out, err = runGit(dir, &blobs, "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	br := bufio.NewReader(bytes.NewReader(out))
	for _, name := range names {
		header, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("cat-file: %w", err)
		}
		f := strings.Fields(header)
		if len(f) != 3 {
			return nil, fmt.Errorf("cat-file answered %q for %s", strings.TrimSpace(header), name)
		}
		size, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("cat-file answered %q for %s", strings.TrimSpace(header), name)
		}
		content := make([]byte, size+1) // and the newline after it
		if _, err := io.ReadFull(br, content); err != nil {
			return nil, fmt.Errorf("cat-file: content of %s: %w", name, err)
		}
		files[name] = string(content[:size])
	}
	return files, nil
}

func runGit(dir string, stdin io.Reader, args ...string) ([]byte, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Stdin = stdin
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_OPTIONAL_LOCKS=0")
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
