package ecs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-ci/gantry/jobs"
)

// stepScript is the job container's program (sh -c). It is the same for
// every job: the steps reach it as variables (GANTRY_STEPS, GANTRY_STEP_1,
// ...) of the RunTask overrides, each run with bash where the image has
// it, else sh, as `$shell -c "$GANTRY_STEP_i"`, so no step text is ever
// spliced into a shell program. Around each step it prints marker lines
// (see marker) that the runner turns into step events and keeps out of
// the job's log. It stops at the first step that fails and exits with its
// code. A SIGTERM (StopTask) is passed on to the running step. After the
// steps succeed, a plan with preview: prints a preview marker and execs
// the preview's command (GANTRY_PREVIEW, with PORT) in its place, so the
// task keeps running as the preview's app until StopTask. After the
// steps, also after a failure but not after a stop, it runs `gantry
// collect` (see collect.go) when the job keeps reports or artifacts.
//
// Services are on localhost (awsvpc: the task's containers share one
// network namespace); their names are added to the hosts file where it is
// writable, and GANTRY_SERVICE_<NAME>=localhost is set either way.
const stepScript = `exec 2>&1
gantry_sh=sh
if command -v bash >/dev/null 2>&1; then gantry_sh=bash; fi
for gantry_svc in $GANTRY_SERVICES; do
  if ! grep -q "[[:space:]]$gantry_svc\$" "$GANTRY_HOSTS_FILE" 2>/dev/null; then
    if ! { echo "127.0.0.1 $gantry_svc" >> "$GANTRY_HOSTS_FILE"; } 2>/dev/null; then
      echo "gantry: cannot add $gantry_svc to $GANTRY_HOSTS_FILE; reach it at localhost"
    fi
  fi
done
gantry_pid=
gantry_stopped=
trap 'gantry_stopped=1; if [ -n "$gantry_pid" ]; then kill -TERM "$gantry_pid" 2>/dev/null; fi' TERM INT
gantry_i=1
gantry_code=0
while [ "$gantry_i" -le "${GANTRY_STEPS:-0}" ]; do
  eval "gantry_step=\${GANTRY_STEP_$gantry_i}"
  echo "##gantry:$GANTRY_MARKER:start:$gantry_i"
  "$gantry_sh" -c "$gantry_step" </dev/null &
  gantry_pid=$!
  wait "$gantry_pid"
  gantry_code=$?
  while kill -0 "$gantry_pid" 2>/dev/null; do
    wait "$gantry_pid"
    gantry_code=$?
  done
  gantry_pid=
  echo "##gantry:$GANTRY_MARKER:end:$gantry_i:$gantry_code"
  if [ "$gantry_code" -ne 0 ]; then break; fi
  gantry_i=$((gantry_i + 1))
done
if [ -n "$GANTRY_COLLECT" ] && [ -z "$gantry_stopped" ]; then
  if [ -x "$GANTRY_TOOL" ]; then
    "$GANTRY_TOOL" collect </dev/null
  else
    echo "gantry: $GANTRY_TOOL is missing: reports and artifacts are not collected"
  fi
fi
if [ "$gantry_code" -eq 0 ] && [ -n "$GANTRY_PREVIEW" ] && [ -z "$gantry_stopped" ]; then
  echo "##gantry:$GANTRY_MARKER:preview"
  PORT="$GANTRY_PREVIEW_PORT" exec "$gantry_sh" -c "$GANTRY_PREVIEW" </dev/null
fi
exit "$gantry_code"
`

// marker is the token in the step marker lines of a job's run: derived
// from the job (number, attempt, creation time), so a worker that
// re-attaches knows it, and a line some step happens to print does not
// match by chance.
func marker(j *jobs.Job) string {
	h := sha256.Sum256([]byte(fmt.Sprintf("gantry-marker/%d/%d/%d", j.ID, j.Attempt, j.Created.UnixMilli())))
	return hex.EncodeToString(h[:6])
}

// markerLine is a parsed step marker.
type markerLine struct {
	preview bool // the steps succeeded and the preview's app starts
	start   bool
	step    int
	code    int // end markers
}

// parseMarker recognises "##gantry:TOKEN:start:I" and
// "##gantry:TOKEN:end:I:CODE".
func parseMarker(line, token string) (markerLine, bool) {
	rest, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), "##gantry:"+token+":")
	if !ok {
		return markerLine{}, false
	}
	parts := strings.Split(rest, ":")
	switch {
	case len(parts) == 1 && parts[0] == "preview":
		return markerLine{preview: true}, true
	case len(parts) == 2 && parts[0] == "start":
		i, err := strconv.Atoi(parts[1])
		return markerLine{start: true, step: i}, err == nil && i > 0
	case len(parts) == 3 && parts[0] == "end":
		i, err1 := strconv.Atoi(parts[1])
		code, err2 := strconv.Atoi(parts[2])
		return markerLine{step: i, code: code}, err1 == nil && err2 == nil && i > 0
	}
	return markerLine{}, false
}

// stepVars are the variables that carry the steps to stepScript.
func stepVars(j *jobs.Job) map[string]string {
	env := map[string]string{
		"GANTRY_STEPS":  strconv.Itoa(len(j.Plan.Steps)),
		"GANTRY_MARKER": marker(j),
	}
	for i, s := range j.Plan.Steps {
		env["GANTRY_STEP_"+strconv.Itoa(i+1)] = s.Run
	}
	if p := j.Plan.Preview; p != nil {
		env["GANTRY_PREVIEW"], env["GANTRY_PREVIEW_PORT"] = p.Run, strconv.Itoa(p.Port)
	}
	return env
}

// cursor is how far the runner has read a task's job log, kept in
// Job.Cursor so that a worker that re-attaches carries on from there.
type cursor struct {
	Token string `json:"t,omitempty"` // GetLogEvents forward token
	Step  int    `json:"s,omitempty"` // the step that started and has not ended
	At    int64  `json:"a,omitempty"` // when it started (log time, ms)
	Done  int    `json:"d,omitempty"` // the last step that ended
}

func parseCursor(s string) (cursor, error) {
	var c cursor
	if s == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return cursor{}, fmt.Errorf("parse log cursor %q: %w", s, err)
	}
	return c, nil
}

func (c cursor) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}
