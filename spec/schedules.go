package spec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones by name also where the system has no zoneinfo

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Schedule runs a pipeline, or deploys to an environment, at the times of a
// cron expression. Each tick runs once however many gantry processes share
// the Redis; after downtime the ticks missed run once, not once each.
type Schedule struct {
	Name     string
	Cron     string         // as written: five fields, or a descriptor such as @hourly
	Location *time.Location // the time zone the fields are read in; default UTC
	Repo     string         // a configured repo
	Pipeline string         // the pipeline to run; "" when Deploy is set
	Deploy   string         // the environment to deploy to; "" when Pipeline is set
	Ref      string         // "" is the repo's default branch (deploys: the stage's branch)
	Channel  string         // where its jobs are shown; default the repo's channel
	when     cron.Schedule
}

// Next returns the first tick of the schedule after t.
func (s Schedule) Next(t time.Time) time.Time { return s.when.Next(t.In(s.Location)) }

// What says what one tick does: "run nightly hello@main" or "deploy hello
// to staging".
func (s Schedule) What() string {
	target := s.Repo
	if s.Ref != "" {
		target += "@" + s.Ref
	}
	if s.Deploy != "" {
		return "deploy " + target + " to " + s.Deploy
	}
	return "run " + s.Pipeline + " " + target
}

// cronParser reads standard five-field expressions and descriptors
// (@yearly, @monthly, @weekly, @daily, @hourly, @every 10m).
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var (
	scheduleKeys     = []string{"cron", "time_zone", "repo", "pipeline", "deploy", "ref", "channel"}
	fileScheduleKeys = []string{"cron", "time_zone", "pipeline", "deploy", "ref"}
)

// MaxSchedules is how many schedules a server config may have.
const MaxSchedules = 100

// schedules reads the server config's schedules: mapping. What the
// schedules name (repos, environments) is checked once the whole file is
// read, by checkSchedules.
func (d *decoder) schedules(n *yaml.Node, s *Server) {
	s.Schedules, d.scheduleNodes = d.scheduleList(n, true)
}

// scheduleList reads a schedules: mapping; inServer allows repo: and
// channel:, which a .gantry.yml's schedules take from the repo itself. It
// returns the schedules with the nodes of their names.
func (d *decoder) scheduleList(n *yaml.Node, inServer bool) ([]Schedule, []*yaml.Node) {
	var out []Schedule
	var nodes []*yaml.Node
	known := scheduleKeys
	if !inServer {
		known = fileScheduleKeys
	}
	fs, _ := d.mapping(n, "schedules", " in schedules")
	if len(fs) > MaxSchedules {
		d.problem(n, "schedules: %d schedules; the limit is %d", len(fs), MaxSchedules)
		return nil, nil
	}
	for _, fl := range fs {
		name := fl.key.Value
		if !nameRE.MatchString(name) {
			d.problem(fl.key, "schedules: %q is not a valid schedule name (%s)", clip(name), nameRule)
			continue
		}
		where := fmt.Sprintf(" in schedule %q", name)
		keys, ok := d.mapping(fl.val, fmt.Sprintf("schedule %q", name), where)
		if !ok {
			continue
		}
		sc := Schedule{Name: name, Location: time.UTC}
		var cronNode *yaml.Node
		for _, k := range keys {
			v := k.val
			switch k.key.Value {
			case "cron":
				sc.Cron, _ = d.str(v, "cron"+where)
				cronNode = resolve(v)
			case "time_zone":
				tz, ok := d.str(v, "time_zone"+where)
				if !ok {
					continue
				}
				loc, err := time.LoadLocation(tz)
				if err != nil || tz == "" || tz == "Local" {
					d.problem(resolve(v), "time_zone%s: %q is not a time zone name (e.g. UTC, Europe/Berlin, America/New_York)", where, clip(tz))
					continue
				}
				sc.Location = loc
			case "repo":
				if !inServer {
					d.problem(k.key, "unknown key \"repo\"%s (a .gantry.yml's schedules run its own repo)", where)
					continue
				}
				sc.Repo, _ = d.str(v, "repo"+where)
			case "pipeline":
				sc.Pipeline, _ = d.str(v, "pipeline"+where)
			case "deploy":
				sc.Deploy, _ = d.str(v, "deploy"+where)
			case "ref":
				sc.Ref, _ = d.str(v, "ref"+where)
			case "channel":
				if !inServer {
					d.problem(k.key, "unknown key \"channel\"%s (a .gantry.yml's schedules show their jobs in the repo's channel)", where)
					continue
				}
				c, ok := d.str(v, "channel"+where)
				if ok && !validChannel(c) {
					d.problem(resolve(v), "channel%s: %q is not %s", where, clip(c), channelRule)
					continue
				}
				sc.Channel = c
				d.noteName(c, NameChannel, resolve(v).Line, "channel"+where)
			default:
				d.unknownKey(k.key, where, known)
			}
		}
		switch {
		case cronNode == nil:
			d.problem(fl.key, "schedule %q has no cron: (e.g. cron: \"0 3 * * *\" for 03:00 every day, or @hourly)", name)
			continue
		case sc.Cron == "":
			continue // d.str said what is wrong
		}
		when, err := cronParser.Parse(sc.Cron)
		if err != nil {
			d.problem(cronNode, "cron%s: %q: %v (five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, @weekly, @monthly, @every 30m)", where, clip(sc.Cron), err)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(sc.Cron), "TZ=") || strings.HasPrefix(strings.TrimSpace(sc.Cron), "CRON_TZ=") {
			d.problem(cronNode, "cron%s: give the time zone as time_zone:, not in the expression", where)
			continue
		}
		sc.when = when
		out = append(out, sc)
		nodes = append(nodes, fl.key)
	}
	return out, nodes
}

// checkFileSchedules checks that what a .gantry.yml's schedules run is in
// the file.
func (d *decoder) checkFileSchedules(f *File, nodes []*yaml.Node) {
	kept := f.Schedules[:0]
	for i, sc := range f.Schedules {
		switch {
		case (sc.Pipeline == "") == (sc.Deploy == ""):
			d.problem(nodes[i], "schedule %q: needs exactly one of pipeline: and deploy: (an environment of deploy:)", sc.Name)
		case sc.Pipeline != "" && f.Pipelines[sc.Pipeline].Steps == nil:
			d.problem(nodes[i], "schedule %q: pipeline %q is not one of pipelines: (%s)", sc.Name, clip(sc.Pipeline), strings.Join(f.PipelineNames(), ", "))
		case sc.Deploy != "" && f.DeployStages[sc.Deploy].Steps == nil:
			d.problem(nodes[i], "schedule %q: deploy %q is not one of deploy: (%s)", sc.Name, clip(sc.Deploy), strings.Join(f.Environments(), ", "))
		default:
			kept = append(kept, sc)
		}
	}
	f.Schedules = kept
}

// checkSchedules checks what each schedule names against the rest of the
// server config.
func (d *decoder) checkSchedules(s *Server) {
	kept := s.Schedules[:0]
	for i, sc := range s.Schedules {
		at := d.scheduleNodes[i]
		bad := func(format string, args ...any) {
			d.problem(at, "schedule %q: "+format, append([]any{sc.Name}, args...)...)
		}
		rc, ok := s.Repos[sc.Repo]
		switch {
		case sc.Repo == "":
			bad("has no repo: (the name of one of repos:)")
			continue
		case !ok:
			if len(s.Repos) == 0 {
				bad("repo %q is not one of repos: (there are none)", clip(sc.Repo))
			} else {
				bad("repo %q is not one of repos: (%s)", clip(sc.Repo), strings.Join(sortedKeys(s.Repos), ", "))
			}
			continue
		case (sc.Pipeline == "") == (sc.Deploy == ""):
			bad("needs exactly one of pipeline: (a pipeline of the repo's .gantry.yml) and deploy: (an environment)")
			continue
		case sc.Deploy != "" && !slices.Contains(sortedKeys(s.Environments), sc.Deploy):
			bad("deploy: %q is not one of environments: (%s)", clip(sc.Deploy), strings.Join(sortedKeys(s.Environments), ", "))
			continue
		}
		if sc.Channel == "" {
			sc.Channel = rc.Channel
		}
		if sc.Channel == "" {
			bad("has no channel: and repo %q has none to lend it (its jobs must be shown somewhere)", sc.Repo)
			continue
		}
		kept = append(kept, sc)
	}
	s.Schedules = kept
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
