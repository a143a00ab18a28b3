package bot

import (
	"context"
	"strings"

	"github.com/gantry-ci/gantry/jobs"
	"github.com/gantry-ci/gantry/scm"
)

// CommitAuthors reads who wrote a commit; *scm.Resolver is the real one.
type CommitAuthors interface {
	CommitAuthor(ctx context.Context, repo, sha string) (scm.Author, error)
}

// EmailLookup finds a chat user by email; "" when there is none.
type EmailLookup interface {
	UserByEmail(ctx context.Context, email string) (string, error)
}

// Authors finds the chat user who wrote a job's commit: the GitHub login
// the commit is linked to, mapped by Users (the server config's users:),
// else the commit's author email looked up with Email.
type Authors struct {
	Commits CommitAuthors
	Users   func() map[string]string // lower-case GitHub login -> user ID, as configured now; nil: none
	Email   EmailLookup              // nil: by the map only
}

// Find returns the user who wrote j's commit; "" when nobody is known
// (or the repository is not on GitHub).
func (a *Authors) Find(ctx context.Context, j *jobs.Job) (string, error) {
	if a == nil || a.Commits == nil || j.GitHub == "" || j.SHA == "" {
		return "", nil
	}
	au, err := a.Commits.CommitAuthor(ctx, j.Repo, j.SHA)
	if err != nil {
		return "", err
	}
	var users map[string]string
	if a.Users != nil {
		users = a.Users()
	}
	if id := users[strings.ToLower(au.Login)]; au.Login != "" && id != "" {
		return id, nil
	}
	if a.Email == nil || au.Email == "" || strings.HasSuffix(au.Email, "@users.noreply.github.com") {
		return "", nil
	}
	return a.Email.UserByEmail(ctx, au.Email)
}
