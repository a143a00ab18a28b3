package githubserver

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"
)

// Remove, as a value in AddCommit's files, deletes the file in the commit.
const Remove = "\x00githubserver:remove\x00"

// MaxContentSize is the largest file the contents endpoint returns inline;
// larger files come back with encoding "none" and no content, as on GitHub.
const MaxContentSize = 1 << 20

type repo struct {
	id            int64
	owner, name   string
	defaultBranch string
	created       time.Time
	branches      map[string]string // name -> sha
	tags          map[string]string // name -> sha
	commits       map[string]*Commit
	statuses      map[string][]Status // by sha, in order received
	deployments   []int64
	checkRuns     map[string][]CheckRun // by sha, in order added
	protected     map[string][]string   // branch -> required status check contexts
	gitDir        string                // AddGitRepo: the git repository it is read from
	gitRefs       string                // the refs last read from gitDir
}

func (r *repo) fullName() string { return r.owner + "/" + r.name }

// Commit is one commit the test added.
type Commit struct {
	SHA     string
	Parent  string // "" for a root commit
	Branch  string // the branch it was added to; "" for commits read from git
	Message string
	Author  string            // the author's name; "" is "Test Author"
	Email   string            // the author's email; "" is "author@example.com"
	Files   map[string]string // the whole tree at this commit
	Time    time.Time
}

func (c *Commit) clone() Commit {
	out := *c
	out.Files = maps.Clone(c.Files)
	return out
}

// AddRepo creates the repository fullName ("owner/name") whose default
// branch is defaultBranch ("main" when empty). It has no commits until
// AddCommit. Names are matched without regard to case, as on GitHub.
func (s *Server) AddRepo(fullName, defaultBranch string) {
	s.tb.Helper()
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		s.errorf("AddRepo: %q is not owner/name", fullName)
		return
	}
	if defaultBranch == "" {
		defaultBranch = "main"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(fullName)
	if _, ok := s.repos[key]; ok {
		s.errorf("AddRepo: %s exists already", fullName)
		return
	}
	s.repos[key] = &repo{
		id: 100000 + s.nextIDLocked(), owner: owner, name: name, defaultBranch: defaultBranch,
		created:  time.Now().UTC().Truncate(time.Second),
		branches: map[string]string{}, tags: map[string]string{},
		commits: map[string]*Commit{}, statuses: map[string][]Status{},
	}
	s.notifyLocked()
}

// AddCommit adds a commit to branch of repo and returns its SHA (40 hex
// digits). Its tree is the parent's with files written over it (a value of
// Remove deletes the file). The parent is the branch's head; a new branch
// starts from the default branch's head, or as a root commit when the
// repository is empty.
func (s *Server) AddCommit(repoName, branch string, files map[string]string) string {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r == nil {
		s.errorf("AddCommit: no repository %s (AddRepo first)", repoName)
		return ""
	}
	if s.gitBackedLocked("AddCommit", r) {
		return ""
	}
	if branch == "" {
		branch = r.defaultBranch
	}
	parent := r.branches[branch]
	if parent == "" {
		parent = r.branches[r.defaultBranch]
	}
	tree := map[string]string{}
	if p := r.commits[parent]; p != nil {
		tree = maps.Clone(p.Files)
	}
	var changed []string
	for name, content := range files {
		name = strings.TrimPrefix(path.Clean("/"+name), "/")
		if name == "" {
			s.errorf("AddCommit: empty file name")
			return ""
		}
		changed = append(changed, name)
		if content == Remove {
			delete(tree, name)
		} else {
			tree[name] = content
		}
	}
	slices.Sort(changed)
	c := &Commit{
		Parent: parent, Branch: branch, Files: tree, Time: time.Now().UTC().Truncate(time.Second),
		Message: "Update " + strings.Join(changed, ", "),
	}
	if len(changed) == 0 {
		c.Message = "Empty commit"
	}
	h := sha1.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%d\x00", r.fullName(), branch, parent, s.nextIDLocked())
	for _, name := range slices.Sorted(maps.Keys(tree)) {
		fmt.Fprintf(h, "%s\x00%s\x00", name, tree[name])
	}
	c.SHA = hex.EncodeToString(h.Sum(nil))
	r.commits[c.SHA] = c
	r.branches[branch] = c.SHA
	s.notifyLocked()
	return c.SHA
}

// AddTag points tag at sha in repo.
func (s *Server) AddTag(repoName, tag, sha string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r == nil || r.commits[sha] == nil {
		s.errorf("AddTag: no commit %s in %s", sha, repoName)
		return
	}
	if s.gitBackedLocked("AddTag", r) {
		return
	}
	r.tags[tag] = sha
	s.notifyLocked()
}

// DeleteBranch removes branch from repo; its commits stay reachable by SHA.
func (s *Server) DeleteBranch(repoName, branch string) {
	s.tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[strings.ToLower(repoName)]
	if r != nil && s.gitBackedLocked("DeleteBranch", r) {
		return
	}
	if r == nil || r.branches[branch] == "" {
		s.errorf("DeleteBranch: no branch %s in %s", branch, repoName)
		return
	}
	delete(r.branches, branch)
	s.notifyLocked()
}

// Head returns the SHA branch of repo points at, or "".
func (s *Server) Head(repoName, branch string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[strings.ToLower(repoName)]; r != nil {
		s.refreshLocked(r)
		return r.branches[branch]
	}
	return ""
}

// Commit returns the commit sha of repo.
func (s *Server) Commit(repoName, sha string) (Commit, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[strings.ToLower(repoName)]; r != nil {
		s.refreshLocked(r)
		if c := r.commits[sha]; c != nil {
			return c.clone(), true
		}
	}
	return Commit{}, false
}

// CloneURL is the clone_url the server reports for repo. The server does not
// serve git: only a repository added with AddGitRepo can be cloned, from
// its git directory.
func (s *Server) CloneURL(repoName string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.repos[strings.ToLower(repoName)]; r != nil {
		return s.cloneURL(r)
	}
	return s.http.URL + "/" + repoName + ".git"
}

// repoLocked finds the repository a request names, brought up to date
// with its git directory when it has one.
func (s *Server) repoLocked(req *http.Request) *repo {
	r := s.repos[strings.ToLower(req.PathValue("owner")+"/"+req.PathValue("repo"))]
	s.refreshLocked(r)
	return r
}

// resolveLocked finds the commit ref names: a full or abbreviated (7 or
// more hex digits) SHA, a branch or a tag, optionally as refs/heads/NAME,
// heads/NAME, refs/tags/NAME or tags/NAME.
func resolveLocked(r *repo, ref string) (string, bool) {
	if r.commits[ref] != nil {
		return ref, true
	}
	for _, p := range []string{"refs/heads/", "heads/", ""} {
		if name, ok := strings.CutPrefix(ref, p); ok && r.branches[name] != "" {
			return r.branches[name], true
		}
	}
	for _, p := range []string{"refs/tags/", "tags/", ""} {
		if name, ok := strings.CutPrefix(ref, p); ok && r.tags[name] != "" {
			return r.tags[name], true
		}
	}
	if len(ref) >= 7 && len(ref) < 40 && isHex(ref) {
		var found string
		for sha := range r.commits {
			if strings.HasPrefix(sha, strings.ToLower(ref)) {
				if found != "" {
					return "", false // ambiguous
				}
				found = sha
			}
		}
		return found, found != ""
	}
	return "", false
}

func isHex(s string) bool {
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func isSHA(s string) bool { return len(s) == 40 && isHex(s) }

func (s *Server) apiURL(format string, args ...any) string {
	return s.http.URL + "/" + fmt.Sprintf(format, args...)
}

func (s *Server) user(login string, id int64) map[string]any {
	return map[string]any{
		"login": login, "id": id, "node_id": fmt.Sprintf("U_%d", id), "type": "User", "site_admin": false,
		"url": s.apiURL("users/%s", login), "html_url": s.http.URL + "/" + login,
	}
}

func (s *Server) repoJSON(r *repo) map[string]any {
	full := r.fullName()
	return map[string]any{
		"id": r.id, "node_id": fmt.Sprintf("R_%d", r.id), "name": r.name, "full_name": full,
		"owner": s.user(r.owner, r.id+1), "private": true, "fork": false, "visibility": "private",
		"html_url": s.http.URL + "/" + full, "url": s.apiURL("repos/%s", full),
		"clone_url": s.cloneURL(r), "git_url": "git://" + s.http.Listener.Addr().String() + "/" + full + ".git",
		"ssh_url":        "git@" + s.http.Listener.Addr().String() + ":" + full + ".git",
		"default_branch": r.defaultBranch, "archived": false, "disabled": false,
		"created_at": r.created.Format(time.RFC3339), "updated_at": r.created.Format(time.RFC3339),
		"pushed_at":   r.created.Format(time.RFC3339),
		"permissions": map[string]bool{"admin": false, "maintain": false, "push": true, "triage": true, "pull": true},
	}
}

func (s *Server) getRepo(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	return reply(http.StatusOK, s.repoJSON(r))
}

// getCommit answers GET /repos/{owner}/{repo}/commits/{ref}: the commit as
// JSON, or only its SHA as text with the sha media type (GetCommitSHA1),
// 304 when If-None-Match names that SHA.
func (s *Server) getCommit(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	ref := req.PathValue("ref")
	if len(r.commits) == 0 {
		return errorReply(http.StatusConflict, "Git Repository is empty.")
	}
	sha, ok := resolveLocked(r, ref)
	if !ok {
		return errorReply(http.StatusUnprocessableEntity, "No commit found for SHA: "+ref)
	}
	accept := req.Header.Get("Accept")
	if strings.Contains(accept, "application/vnd.github.v3.sha") || strings.Contains(accept, "application/vnd.github.sha") {
		etag := `"` + sha + `"`
		if req.Header.Get("If-None-Match") == etag {
			return response{status: http.StatusNotModified, header: http.Header{"Etag": {etag}}}
		}
		return response{status: http.StatusOK, body: []byte(sha), header: http.Header{
			"Content-Type": {"application/vnd.github.v3.sha; charset=utf-8"}, "Etag": {etag},
		}}
	}
	return reply(http.StatusOK, s.commitJSON(r, r.commits[sha]))
}

func (s *Server) commitJSON(r *repo, c *Commit) map[string]any {
	full := r.fullName()
	name, email := c.Author, c.Email
	if name == "" {
		name = "Test Author"
	}
	if email == "" {
		email = "author@example.com"
	}
	who := map[string]any{"name": name, "email": email, "date": c.Time.Format(time.RFC3339)}
	var author any // the GitHub account, when the email is one's
	if login, ok := s.logins[strings.ToLower(email)]; ok {
		author = s.user(login, 2)
	}
	parents := []map[string]any{}
	if c.Parent != "" {
		parents = append(parents, map[string]any{"sha": c.Parent, "url": s.apiURL("repos/%s/commits/%s", full, c.Parent)})
	}
	var files []map[string]any
	old := map[string]string{}
	if p := r.commits[c.Parent]; p != nil {
		old = p.Files
	}
	for _, name := range slices.Sorted(maps.Keys(c.Files)) {
		if prev, ok := old[name]; !ok {
			files = append(files, map[string]any{"filename": name, "status": "added"})
		} else if prev != c.Files[name] {
			files = append(files, map[string]any{"filename": name, "status": "modified"})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(old)) {
		if _, ok := c.Files[name]; !ok {
			files = append(files, map[string]any{"filename": name, "status": "removed"})
		}
	}
	return map[string]any{
		"sha": c.SHA, "node_id": "C_" + c.SHA[:12],
		"url": s.apiURL("repos/%s/commits/%s", full, c.SHA), "html_url": s.http.URL + "/" + full + "/commit/" + c.SHA,
		"commit": map[string]any{
			"message": c.Message, "author": who, "committer": who, "comment_count": 0,
			"tree": map[string]any{"sha": treeSHA(c.Files)},
		},
		"parents": parents, "files": files, "author": author,
	}
}

func treeSHA(files map[string]string) string {
	h := sha1.New()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\x00%s\x00", name, blobSHA(files[name]))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// blobSHA is git's object id of a blob with content.
func blobSHA(content string) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00%s", len(content), content)
	return hex.EncodeToString(h.Sum(nil))
}

// getContents answers GET /repos/{owner}/{repo}/contents/{path}?ref=REF: a
// file as base64 in lines of 60 characters, or a directory listing.
func (s *Server) getContents(req *http.Request, _ []byte) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(req)
	if r == nil {
		return reply(http.StatusNotFound, notFound())
	}
	ref := req.URL.Query().Get("ref")
	if ref == "" {
		ref = r.defaultBranch
	}
	sha, ok := resolveLocked(r, ref)
	if !ok {
		return errorReply(http.StatusNotFound, "No commit found for the ref "+ref)
	}
	c := r.commits[sha]
	p := strings.Trim(req.PathValue("path"), "/")
	if content, ok := c.Files[p]; ok {
		return reply(http.StatusOK, s.fileJSON(r, sha, p, content))
	}
	var entries []map[string]any
	seen := map[string]bool{}
	prefix := p + "/"
	if p == "" {
		prefix = ""
	}
	for _, name := range slices.Sorted(maps.Keys(c.Files)) {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		if dir, _, isDir := strings.Cut(rest, "/"); isDir {
			if !seen[dir] {
				seen[dir] = true
				entries = append(entries, map[string]any{"type": "dir", "name": dir, "path": prefix + dir, "size": 0, "sha": treeSHA(nil)})
			}
			continue
		}
		e := s.fileJSON(r, sha, name, c.Files[name])
		delete(e, "content")
		delete(e, "encoding")
		entries = append(entries, e)
	}
	if len(entries) == 0 {
		return reply(http.StatusNotFound, notFound())
	}
	return reply(http.StatusOK, entries)
}

func (s *Server) fileJSON(r *repo, sha, name, content string) map[string]any {
	full := r.fullName()
	out := map[string]any{
		"type": "file", "name": path.Base(name), "path": name, "size": len(content), "sha": blobSHA(content),
		"url":          s.apiURL("repos/%s/contents/%s?ref=%s", full, name, sha),
		"git_url":      s.apiURL("repos/%s/git/blobs/%s", full, blobSHA(content)),
		"html_url":     s.http.URL + "/" + full + "/blob/" + sha + "/" + name,
		"download_url": s.http.URL + "/raw/" + full + "/" + sha + "/" + name,
	}
	if len(content) > MaxContentSize {
		out["encoding"], out["content"] = "none", ""
		return out
	}
	enc := base64.StdEncoding.EncodeToString([]byte(content))
	var b strings.Builder
	for len(enc) > 60 {
		b.WriteString(enc[:60])
		b.WriteByte('\n')
		enc = enc[60:]
	}
	b.WriteString(enc)
	b.WriteByte('\n')
	out["encoding"], out["content"] = "base64", b.String()
	return out
}
