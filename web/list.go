package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/gantry-ci/gantry/jobs"

	"context"
)

// listSize is how many jobs a page of the list shows.
const listSize = 50

// Who sees the list of jobs. The list shows, of every job, what its row
// says; so it follows the rule job pages follow, and never shows more:
//
//   - With web.public set, /jobs is open to all, and lists exactly the
//     jobs whose pages are open to all: those of public channels (and of
//     GitHub), and those of the private channels web.public_channels
//     names. Its rows link to the open pages.
//   - Without it, /jobs needs a signed list link (Links.List, which chat
//     hands out like job links), and lists the jobs of public channels
//     only: a private channel's job is never listed, whoever holds the
//     link, since web.public_channels means something only with
//     web.public. Its rows carry signed job links that expire with the
//     list link.
//
// So a private channel's job reaches the list only where the server config
// made its page public, and otherwise stays behind its own signed link.

// listed reports whether the list shows job j (see above).
func (s *Server) listed(j *jobs.Job) bool {
	return !j.Private || (s.d.Public && slices.Contains(s.d.PublicChannels, j.Channel))
}

// home sends people to the list of jobs, carrying a list link's signature.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	to := "/jobs"
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusFound)
}

type listData struct {
	Rows   []listRow
	Filter listFilter
	States []jobs.State
	Sig    url.Values // the list link's exp and sig, carried by the form and links
	Older  string     // the next page, when there are older jobs
	Newest string     // the first page, from later pages
	Clear  string     // the first page without a filter
	Note   string     // why a page is short, when it is
	Public bool
}

// listFilter is the filter form's fields.
type listFilter struct {
	Repo, State, Person, Env string
}

type listRow struct {
	Name, URL, What, Target, SHA, State, Who, Queued, Took string
}

func (s *Server) jobList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := listData{States: allStates, Public: s.d.Public}
	var exp int64
	if !s.d.Public {
		var err error
		if exp, err = s.d.Links.CheckList(q); err != nil {
			s.d.Logger.Info("refused job list", "why", err, "remote", r.RemoteAddr)
			http.Error(w, err.Error()+": ask gantry for a fresh link to the list of jobs", http.StatusForbidden)
			return
		}
		d.Sig = url.Values{"exp": {q.Get("exp")}, "sig": {q.Get("sig")}}
	}
	d.Filter = listFilter{Repo: q.Get("repo"), State: q.Get("state"), Person: q.Get("person"), Env: q.Get("env")}
	f, before, msg := s.parseList(d.Filter, q.Get("before"))
	if msg != "" {
		http.Error(w, msg, http.StatusBadRequest)
		return
	}
	page, err := s.d.Store.List(r.Context(), f, before, listSize)
	if errors.Is(err, jobs.ErrNotFound) {
		http.Error(w, "there is no job #"+q.Get("before")+" to list older jobs from", http.StatusNotFound)
		return
	}
	if err != nil {
		s.d.Logger.Error("list jobs", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	s.fillList(r.Context(), &d, page, exp, before)
	setPageHeaders(w)
	if err := pages.ExecuteTemplate(w, "list", d); err != nil {
		s.d.Logger.Error("render job list", "err", err)
	}
}

// allStates are the states the filter offers, in the order of a job's
// life.
var allStates = []jobs.State{jobs.Queued, jobs.AwaitingApproval, jobs.Waiting, jobs.Running,
	jobs.Succeeded, jobs.Failed, jobs.Cancelled, jobs.Errored}

// parseList turns the form's fields and the page's start into a filter,
// or says what is wrong with them.
func (s *Server) parseList(lf listFilter, before string) (jobs.ListFilter, int64, string) {
	f := jobs.ListFilter{Repo: lf.Repo, State: jobs.State(lf.State), Person: lf.Person, Env: lf.Env, Show: s.listed}
	if f.State != "" && !slices.Contains(allStates, f.State) {
		return f, 0, "state must be one of queued, awaiting_approval, waiting, running, succeeded, failed, cancelled, errored"
	}
	if before == "" {
		return f, 0, ""
	}
	id, err := strconv.ParseInt(before, 10, 64)
	if err != nil || id <= 0 {
		return f, 0, "before must be a job number"
	}
	return f, id, ""
}

// fillList turns a page of jobs into rows, and links to the next page.
func (s *Server) fillList(ctx context.Context, d *listData, page jobs.ListPage, exp, before int64) {
	now := time.Now()
	for _, j := range page.Jobs {
		row := listRow{
			Name: j.Name(), URL: "/jobs/" + strconv.FormatInt(j.ID, 10), What: j.What(), Target: j.Target(),
			SHA: j.ShortSHA(), State: string(j.State), Who: s.person(ctx, j.Requester), Queued: fmtTime(j.Created),
		}
		if row.Who == "" {
			row.Who = "GitHub"
		}
		if !j.Started.IsZero() {
			row.Took = fmtDuration(j.Duration(now))
		}
		if !s.d.Public {
			row.URL += "?" + s.d.Links.queryUntil(j.ID, exp)
		}
		d.Rows = append(d.Rows, row)
	}
	if page.Next != 0 {
		d.Older = d.pageURL(page.Next)
	}
	if before != 0 {
		d.Newest = d.pageURL(0)
	}
	d.Clear = "/jobs"
	if len(d.Sig) > 0 {
		d.Clear += "?" + d.Sig.Encode()
	}
	if page.Cut && len(page.Jobs) < listSize {
		d.Note = "Few jobs match: this page looked at " + strconv.Itoa(page.Scanned) + " jobs; older ones may match too."
	}
}

// pageURL is the list with the same filter and signature, starting after
// job before (0: with the newest).
func (d *listData) pageURL(before int64) string {
	q := url.Values{}
	for k, v := range d.Sig {
		q[k] = v
	}
	for k, v := range map[string]string{"repo": d.Filter.Repo, "state": d.Filter.State, "person": d.Filter.Person, "env": d.Filter.Env} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if before != 0 {
		q.Set("before", strconv.FormatInt(before, 10))
	}
	return "/jobs?" + q.Encode()
}
