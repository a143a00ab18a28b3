package scm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/google/go-github/v60/github"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/say"
)

// Check is what one context (a commit status's or a check run's name)
// says of a commit: its latest state, and whether that counts as green.
type Check struct {
	Context string
	State   string // a status's state (success, pending, failure, error) or a check run's conclusion, or its status while it runs
	Green   bool   // success; for a check run also neutral and skipped
}

// Author is who wrote a commit: their GitHub login, when GitHub links the
// commit to an account, and the email the commit names.
type Author struct {
	Login string
	Email string
	Name  string
}

// ErrNotGitHub is returned for checks and authors of a repository that is
// not on GitHub: only GitHub knows them.
var ErrNotGitHub = errors.New("the repository is not on GitHub")

func (r *Resolver) githubOf(repo string) (*GitHub, string, error) {
	rc, ok := r.live.Load().Repos[repo]
	if !ok || rc.GitHub == "" {
		return nil, "", fmt.Errorf("%s: %w", repo, ErrNotGitHub)
	}
	gh, ok := r.github.(*GitHub)
	if !ok {
		return nil, "", fmt.Errorf("%s: no GitHub access configured: %w", repo, ErrNotGitHub)
	}
	return gh, rc.GitHub, nil
}

// Checks reads what the commit statuses and check runs of sha in the
// configured repo say, by context.
func (r *Resolver) Checks(ctx context.Context, repo, sha string) (map[string]Check, error) {
	gh, name, err := r.githubOf(repo)
	if err != nil {
		return nil, err
	}
	return gh.Checks(ctx, name, sha)
}

// RequiredChecks reads the status checks the protection of branch of the
// configured repo requires.
func (r *Resolver) RequiredChecks(ctx context.Context, repo, branch string) ([]string, error) {
	gh, name, err := r.githubOf(repo)
	if err != nil {
		return nil, err
	}
	return gh.RequiredChecks(ctx, name, branch)
}

// CommitAuthor reads who wrote sha of the configured repo.
func (r *Resolver) CommitAuthor(ctx context.Context, repo, sha string) (Author, error) {
	gh, name, err := r.githubOf(repo)
	if err != nil {
		return Author{}, err
	}
	return gh.CommitAuthor(ctx, name, sha)
}

// Checks reads the combined status and the check runs of sha in repo
// ("owner/name"). Both count: a check run and a status of the same name
// are one context, green only when both are.
func (g *GitHub) Checks(ctx context.Context, repo, sha string) (map[string]Check, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	out := map[string]Check{}
	merge := func(c Check) {
		if old, ok := out[c.Context]; ok && !old.Green {
			return
		}
		out[c.Context] = c
	}
	opts := &github.ListOptions{PerPage: 100}
	for {
		var cs *github.CombinedStatus
		var resp *github.Response
		err := g.read(ctx, "statuses", fmt.Sprintf("read the statuses of %s@%s", repo, short(sha)), func(ctx context.Context) (*github.Response, error) {
			var err error
			cs, resp, err = g.api.Repositories.GetCombinedStatus(ctx, owner, name, sha, opts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, st := range cs.Statuses {
			merge(Check{Context: st.GetContext(), State: st.GetState(), Green: st.GetState() == "success"})
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	copts := &github.ListCheckRunsOptions{ListOptions: github.ListOptions{PerPage: 100}}
	for {
		var runs *github.ListCheckRunsResults
		var resp *github.Response
		err := g.read(ctx, "check runs", fmt.Sprintf("read the check runs of %s@%s", repo, short(sha)), func(ctx context.Context) (*github.Response, error) {
			var err error
			runs, resp, err = g.api.Checks.ListCheckRunsForRef(ctx, owner, name, sha, copts)
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		for _, run := range runs.CheckRuns {
			state := run.GetStatus()
			if state == "completed" {
				state = run.GetConclusion()
			}
			merge(Check{Context: run.GetName(), State: state, Green: slices.Contains([]string{"success", "neutral", "skipped"}, state)})
		}
		if resp == nil || resp.NextPage == 0 {
			break
		}
		copts.Page = resp.NextPage
	}
	return out, nil
}

// RequiredChecks reads the contexts the protection of branch in repo
// requires. A branch that is not protected requires none, which is an
// error people should read: a policy that relies on it would check nothing.
func (g *GitHub) RequiredChecks(ctx context.Context, repo, branch string) ([]string, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return nil, err
	}
	var rc *github.RequiredStatusChecks
	err = g.read(ctx, "protection", fmt.Sprintf("read the protection of %s@%s", repo, branch), func(ctx context.Context) (resp *github.Response, err error) {
		rc, resp, err = g.api.Repositories.GetRequiredStatusChecks(ctx, owner, name, branch)
		return resp, err
	})
	if errors.Is(err, github.ErrBranchNotProtected) || httpStatus(err) == http.StatusNotFound {
		return nil, &jobs.UserError{Msg: say.F("%s: branch %s is not protected with required status checks on GitHub (or gantry's token may not read its protection)", repo, branch), Err: err}
	}
	if err != nil {
		return nil, err
	}
	var out []string
	if rc.Contexts != nil {
		out = append(out, *rc.Contexts...)
	}
	if rc.Checks != nil {
		for _, c := range *rc.Checks {
			if !slices.Contains(out, c.Context) {
				out = append(out, c.Context)
			}
		}
	}
	return out, nil
}

// CommitAuthor reads who wrote sha in repo.
func (g *GitHub) CommitAuthor(ctx context.Context, repo, sha string) (Author, error) {
	owner, name, err := splitRepo(repo)
	if err != nil {
		return Author{}, err
	}
	var c *github.RepositoryCommit
	err = g.read(ctx, "commit", fmt.Sprintf("read the author of %s@%s", repo, short(sha)), func(ctx context.Context) (resp *github.Response, err error) {
		c, resp, err = g.api.Repositories.GetCommit(ctx, owner, name, sha, nil)
		return resp, err
	})
	if err != nil {
		return Author{}, err
	}
	a := Author{Login: c.GetAuthor().GetLogin()}
	if ca := c.GetCommit().GetAuthor(); ca != nil {
		a.Email, a.Name = ca.GetEmail(), ca.GetName()
	}
	return a, nil
}
