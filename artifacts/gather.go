package artifacts

import (
	"context"
	"fmt"
	"os"

	"github.com/gantry-ci/gantry/reports"
)

// Results is what a job left behind, as its record keeps it: plain data
// that each surface renders.
type Results struct {
	// Tests is what the JUnit reports said; nil when the plan has none.
	Tests *reports.Summary `json:"tests,omitempty"`
	// Store says where the files are: "dir" (gantry's own directory, served
	// by its web server), "s3://BUCKET/PREFIX/JOB/", or "" when none were
	// kept.
	Store string `json:"store,omitempty"`
	Files []File `json:"files,omitempty"`
	// Notes say what was left out and why (a limit, a symlink, a report
	// that could not be read, no bucket on ECS).
	Notes []string `json:"notes,omitempty"`
}

// Saver stores a job's artifacts, reading them from the workspace root.
type Saver interface {
	// Save stores files of job and returns where (Results.Store).
	Save(ctx context.Context, job int64, root *os.Root, files []File) (string, error)
}

// Plan is what a job asks to keep.
type Plan struct {
	Artifacts []string // patterns
	JUnit     []string // patterns of JUnit reports
}

// Gather reads the job's reports and stores its artifacts with save (nil:
// artifacts are not stored, and noSave says why). Each line it has to say
// goes to say, for the job's log. It reports what a problem with one file
// is as a note and goes on; it fails only when the store does.
func Gather(ctx context.Context, job int64, workspace string, p Plan, lim Limits, save Saver, noSave string, say func(string)) (Results, error) {
	var res Results
	if len(p.Artifacts) == 0 && len(p.JUnit) == 0 {
		return res, nil
	}
	root, err := os.OpenRoot(workspace)
	if err != nil {
		return res, fmt.Errorf("open the workspace: %w", err)
	}
	defer root.Close()
	if len(p.JUnit) > 0 {
		res.Tests = readReports(root, p.JUnit, &res, say)
	}
	if len(p.Artifacts) == 0 {
		return res, nil
	}
	found, err := Find(root, p.Artifacts, lim)
	if err != nil {
		return res, fmt.Errorf("find artifacts: %w", err)
	}
	for _, n := range found.Notes {
		say(n)
	}
	res.Notes = append(res.Notes, found.Notes...)
	if len(found.Files) == 0 {
		say("no files match the artifacts patterns")
		return res, nil
	}
	if save == nil {
		say(noSave)
		res.Notes = append(res.Notes, noSave)
		return res, nil
	}
	where, err := save.Save(ctx, job, root, found.Files)
	if err != nil {
		return res, fmt.Errorf("store artifacts: %w", err)
	}
	var total int64
	for _, f := range found.Files {
		total += f.Size
	}
	res.Store, res.Files = where, found.Files
	say(fmt.Sprintf("kept %s (%s)", plural(len(found.Files), "artifact"), Bytes(total)))
	return res, nil
}

// readReports parses the JUnit reports the patterns find, within
// reports.MaxFiles files of reports.MaxFileBytes each.
func readReports(root *os.Root, patterns []string, res *Results, say func(string)) *reports.Summary {
	found, err := Find(root, patterns, Limits{MaxFiles: reports.MaxFiles, MaxBytes: 1 << 40})
	sum := &reports.Summary{}
	if err != nil {
		say("reading test reports: " + err.Error())
		return sum
	}
	for _, n := range found.Notes {
		n = "test reports: " + n
		say(n)
		res.Notes = append(res.Notes, n)
	}
	if len(found.Files) == 0 {
		n := "no test reports match the junit patterns"
		say(n)
		res.Notes = append(res.Notes, n)
		return sum
	}
	for _, f := range found.Files {
		s, err := parseFile(root, f.Path)
		if err != nil {
			n := fmt.Sprintf("test report %s is not JUnit XML that gantry can read: %v", f.Path, err)
			say(n)
			res.Notes = append(res.Notes, n)
			continue
		}
		sum.Add(s)
	}
	say(fmt.Sprintf("tests: %s (from %s)", sum.Counts(), plural(sum.Files, "report file")))
	return sum
}

func parseFile(root *os.Root, name string) (reports.Summary, error) {
	f, err := root.Open(name)
	if err != nil {
		return reports.Summary{}, err
	}
	defer f.Close()
	return reports.ParseJUnit(f)
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
