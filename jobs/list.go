package jobs

import (
	"context"
	"fmt"
	"strings"
)

// ListFilter picks the jobs a list shows. Empty fields match every job.
type ListFilter struct {
	Repo  string
	State State
	Env   string // deploys to this environment
	// Person matches the jobs someone asked for, first or in a retry;
	// "github" (in any case) matches the jobs GitHub started.
	Person string
	// Show, when set, is asked of every job the fields above let through;
	// a job it refuses is left out (the web list leaves out private
	// channels' jobs with it).
	Show func(*Job) bool
}

// Match reports whether f lets j through.
func (f ListFilter) Match(j *Job) bool {
	switch {
	case f.Repo != "" && j.Repo != f.Repo,
		f.State != "" && j.State != f.State,
		f.Env != "" && (j.Kind != Deploy || j.Env != f.Env),
		f.Person != "" && !f.matchPerson(j):
		return false
	}
	return f.Show == nil || f.Show(j)
}

func (f ListFilter) matchPerson(j *Job) bool {
	if strings.EqualFold(f.Person, "github") {
		return j.Requester == ""
	}
	return j.RequestedBy(f.Person)
}

// ListPage is one page of a list of jobs, newest first.
type ListPage struct {
	Jobs []*Job
	// Next is the job the next page goes on after (pass it as after); 0
	// when no older job is left to look at.
	Next int64
	// Scanned is how many records this page read to find its jobs.
	Scanned int
	// Cut says the page stopped at its bound on records read, before
	// the oldest job: older jobs may match too.
	Cut bool
}

const (
	// listBatch is how many records a list reads from Redis at once.
	listBatch = 100
	// listScanMax bounds the records one page reads, so that a filter
	// few jobs match costs a bounded amount per page: a page that reaches
	// it holds what it found, and Next goes on from where it stopped.
	listScanMax = 2000
)

// List returns up to n jobs that f matches, newest first, beginning after
// job after (0: with the newest job). It reads records a batch at a time
// and at most listScanMax of them. A job after that is not in the list of
// jobs gives ErrNotFound.
func (s *Store) List(ctx context.Context, f ListFilter, after int64, n int) (ListPage, error) {
	var page ListPage
	if n <= 0 {
		return page, nil
	}
	cursor := after
	for page.Scanned < listScanMax {
		ids, err := s.listAfter(ctx, cursor, min(listBatch, listScanMax-page.Scanned))
		if err != nil {
			return page, err
		}
		if len(ids) == 0 {
			return page, nil // the oldest job was looked at
		}
		batch, err := s.getAll(ctx, ids)
		if err != nil {
			return page, err
		}
		for _, j := range batch {
			if !f.Match(j) {
				continue
			}
			if len(page.Jobs) == n {
				// One more matches: there is an older page.
				page.Next = page.Jobs[n-1].ID
				return page, nil
			}
			page.Jobs = append(page.Jobs, j)
		}
		page.Scanned += len(ids)
		cursor = ids[len(ids)-1]
	}
	// The scan stopped short of the oldest job: the next page goes on
	// from the last job read, matched or not.
	page.Next, page.Cut = cursor, true
	return page, nil
}

// listAfter is up to n job numbers after job after in the recent set.
func (s *Store) listAfter(ctx context.Context, after int64, n int) ([]int64, error) {
	ids, ok, err := s.records.After(ctx, after, n)
	if err != nil {
		return nil, fmt.Errorf("list jobs after #%d: %w", after, err)
	}
	if !ok {
		return nil, fmt.Errorf("list jobs after #%d: %w", after, ErrNotFound)
	}
	return ids, nil
}
