package scm

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/jobs"
)

// Contains reports whether commit sha of repo is on branch: the branch's
// head is sha or has it as an ancestor. It is how a deploy policy's branch
// binds: a commit that is not on it was never merged there.
func (r *Resolver) Contains(ctx context.Context, repo, branch, sha string) (bool, error) {
	if !validBranchName(branch) || !isSHA(sha) {
		return false, fmt.Errorf("contains %s in %s@%s: not a branch and a commit SHA", sha, repo, branch)
	}
	rc, ok := r.live.Load().Repos[repo]
	if ok && rc.GitHub != "" && r.github != nil {
		gh, ok := r.github.(interface {
			Contains(ctx context.Context, repo, branch, sha string) (bool, error)
		})
		if !ok {
			return false, errors.New("this GitHub reader cannot compare commits")
		}
		return gh.Contains(ctx, rc.GitHub, branch, sha)
	}
	path := repo
	if ok {
		path = rc.Path
	}
	head, err := gitOutput(ctx, path, "rev-parse", "--verify", "--quiet", "--end-of-options", "refs/heads/"+branch+"^{commit}")
	if err != nil {
		// A checkout may know the branch only as its remote's.
		head, err = gitOutput(ctx, path, "rev-parse", "--verify", "--quiet", "--end-of-options", "refs/remotes/origin/"+branch+"^{commit}")
		if err != nil {
			return false, jobs.Userf("%s has no branch %q to check the commit against", repo, branch)
		}
	}
	if head == sha {
		return true, nil
	}
	cmd := exec.CommandContext(ctx, "git", "merge-base", "--is-ancestor", sha, head)
	cmd.Dir = path
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, nil
	default:
		return false, fmt.Errorf("git merge-base in %s: %w", repo, err)
	}
}

// Contains reports whether sha is on branch in repo ("owner/name"), by
// GitHub's comparison of the branch with the commit.
func (g *GitHub) Contains(ctx context.Context, repo, branch, sha string) (bool, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return false, err
	}
	var cmp *github.CommitsComparison
	err = g.read(ctx, "compare", fmt.Sprintf("compare %s@%s with %s", repo, branch, short(sha)), func(ctx context.Context) (resp *github.Response, err error) {
		cmp, resp, err = g.api.Repositories.CompareCommits(ctx, owner, name, branch, sha, &github.ListOptions{PerPage: 1})
		return resp, err
	})
	if err != nil {
		return false, err
	}
	switch cmp.GetStatus() {
	case "identical", "behind":
		return true, nil
	}
	return false, nil
}

func validBranchName(b string) bool { return b != "" && validRef(b) }
