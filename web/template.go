package web

import "html/template"

// pages are the server's HTML pages: "job" (a job and its log) and "list"
// (recent jobs), with their shared "style". They are drawn on the server;
// the few scripts are written inline, with no build step.
var pages = template.Must(template.New("pages").Parse(styleTmpl + jobTmpl + jobScriptTmpl + listTmpl))

const styleTmpl = `{{define "style"}}
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d1f23; background: #f6f7f9; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #dde1e6; }
h1 { font-size: 18px; margin: 0 0 6px; }
.meta { color: #5b6270; }
.meta span, .meta a { margin-right: 14px; }
.state { font-weight: 600; padding: 1px 8px; border-radius: 10px; background: #e8eaee; }
.state.succeeded { background: #d7f5dd; color: #13612a; }
.state.failed, .state.errored { background: #fde0e0; color: #8f1d1d; }
.state.running { background: #dceaff; color: #1b4d9b; }
.state.cancelled { background: #ececec; color: #555; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 10px 0 0; color: #3b4150; }
dl.facts dt { color: #5b6270; }
dl.facts dd { margin: 0; }
main { padding: 16px 24px; }
table { border-collapse: collapse; margin-bottom: 16px; background: #fff; }
td, th { border: 1px solid #dde1e6; padding: 4px 10px; text-align: left; }
a { color: #1b5fc1; }
form label { margin-right: 12px; white-space: nowrap; }
#jobs td { white-space: nowrap; }
form input, form select, form button { font: inherit; padding: 2px 6px; }
.tools { margin: 0 0 8px; }
#search { font: inherit; padding: 4px 8px; width: 280px; }
#matches { color: #5b6270; margin-left: 8px; }
#log { background: #15171c; color: #d6d9de; padding: 6px 0; font: 12.5px/1.4 ui-monospace, monospace; border-radius: 4px; overflow-x: auto; }
#log .l { white-space: pre-wrap; word-break: break-all; padding: 0 12px 0 64px; text-indent: -52px; }
#log .l > a { display: inline-block; width: 44px; margin-right: 8px; text-indent: 0; text-align: right; color: #5d6470; text-decoration: none; user-select: none; }
#log .l > a::before { content: attr(data-n); }
#log.times .l { padding-left: 132px; text-indent: -120px; }
#log.times .l > a { width: 112px; }
#log.times .l > a[data-t]::before { content: attr(data-t) "  " attr(data-n); }
#times-toggle { margin-left: 12px; color: #5b6270; }
#log .l:hover > a { color: #aab2c0; }
#log .l:target, #log .l.hl { background: #3d3a1c; }
#log .l:target > a, #log .l.hl > a { color: #ffe08a; }
#log summary { cursor: pointer; padding: 3px 12px; background: #1f232b; border-top: 1px solid #2c313b; color: #e8e8e8; font: 13px system-ui, sans-serif; }
#log summary code { font: 12.5px ui-monospace, monospace; }
#log .res { font-weight: 600; margin-left: 6px; }
#log .took { color: #9aa1ad; margin-left: 6px; }
#log .succeeded > summary .res { color: #5fd37a; }
#log .failed > summary .res { color: #ff6b6b; }
#log .running > summary .res { color: #6aa6ff; }
#log .other > summary .res { color: #f0c24b; }
#log .nomatch { display: none; }
.fg-black{color:#555}.fg-red{color:#ff6b6b}.fg-green{color:#5fd37a}.fg-yellow{color:#f0c24b}.fg-blue{color:#6aa6ff}.fg-magenta{color:#d787ff}.fg-cyan{color:#4fd1d9}.fg-white{color:#e8e8e8}
.fg-bright-black{color:#888}.fg-bright-red{color:#ff9090}.fg-bright-green{color:#8df0a5}.fg-bright-yellow{color:#ffe08a}.fg-bright-blue{color:#9cc4ff}.fg-bright-magenta{color:#ebb0ff}.fg-bright-cyan{color:#8ff0f5}.fg-bright-white{color:#fff}
.bg-red{background:#7a1f1f}.bg-green{background:#1f5a2c}.bg-yellow{background:#6b5514}.bg-blue{background:#1f3b6b}
.bold{font-weight:700}.dim{opacity:.7}.italic{font-style:italic}.underline{text-decoration:underline}
{{end}}`

const jobTmpl = `{{define "job"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · gantry</title>
<style>{{template "style"}}</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<div class="meta">
<span id="state" class="state {{.State}}">{{.State}}</span>
<span>by {{.Who}}{{if .Retried}}, retried by {{.Retried}}{{end}}</span>
<span id="elapsed">{{.Times.Elapsed}}</span>
<span id="exit">{{if .ExitCode}}exit code {{.ExitCode}}{{end}}</span>
<span id="reason">{{.Reason}}</span>
<a href="{{.RawURL}}&amp;download=1">download raw log</a>
{{if .ListURL}}<a href="{{.ListURL}}">all jobs</a>{{end}}
</div>
<dl class="facts">
<dt>repo</dt><dd id="repo">{{.Job.Repo}}</dd>
<dt>ref</dt><dd id="ref">{{.Job.Ref}}{{if .Pull}} (<a href="{{.Pull}}">pull request #{{.Job.PR}}</a>){{end}}</dd>
{{if .Job.SHA}}<dt>commit</dt><dd>{{if .Commit}}<a id="sha" href="{{.Commit}}" title="{{.Job.SHA}}"><code>{{.Job.ShortSHA}}</code></a>{{else}}<code id="sha" title="{{.Job.SHA}}">{{.Job.ShortSHA}}</code>{{end}}{{if .Job.Message}} <span id="message">{{.Job.Message}}</span>{{end}}</dd>{{end}}
{{if .Job.Env}}<dt>environment</dt><dd>{{.Job.Env}}</dd>{{end}}
<dt>queued</dt><dd><time id="queued">{{.Times.Queued}}</time></dd>
<dt>started</dt><dd><time id="started">{{or .Times.Started "not yet"}}</time> <span id="waited">{{if .Times.Waited}}after {{.Times.Waited}} in the queue{{end}}</span></dd>
<dt>ended</dt><dd><time id="finished">{{or .Times.Finished "not yet"}}</time> <span id="ran">{{if .Times.Finished}}ran {{.Times.Elapsed}}{{end}}</span></dd>
</dl>
</header>
<main>
<table id="steps">
<tr><th>#</th><th>step</th><th>result</th><th>took</th></tr>
{{range .Steps}}<tr><td>{{.N}}</td><td><code>{{.Name}}</code></td><td>{{.Result}}</td><td>{{.Duration}}</td></tr>
{{end}}</table>
{{with .Results}}<section id="results">
{{with .Tests}}<h2>Tests</h2>
<p id="test-counts">{{.Counts}}</p>
{{if .Failures}}<ul id="failing-tests">
{{range .Failures}}<li><details><summary><code class="test-name">{{.Name}}</code>{{if .Message}} — {{.Message}}{{end}}</summary>{{if .Output}}<pre>{{.Output}}</pre>{{end}}</details></li>
{{end}}</ul>{{end}}{{if .Unlisted}}<p>and {{.Unlisted}} more failing tests (the log has them all)</p>{{end}}{{end}}
{{if .Files}}<h2>Artifacts</h2>
<ul id="artifacts">
{{range .Files}}<li><a href="{{.URL}}">{{.Path}}</a> ({{.Size}})</li>
{{end}}</ul>{{end}}
{{range .Notes}}<p class="note">{{.}}</p>
{{end}}</section>{{end}}
<div class="tools"><input id="search" type="search" placeholder="filter the log" autocomplete="off" aria-label="filter the log"><span id="matches"></span><label id="times-toggle"><input id="times" type="checkbox"> times (UTC)</label></div>
{{if .From}}<p id="earlier-bar"><a id="earlier" href="{{.RawURL}}" data-before="{{.From}}">earlier lines</a> · the page shows the end of the log; the <a href="{{.RawURL}}">raw log</a> has all of it</p>{{end}}
<div id="log" data-job="{{.Job.ID}}" data-query="{{.Query}}" data-offset="{{.Offset}}" data-next="{{.Next}}" data-runs="{{.Runs}}"{{if .Live}} data-live="1"{{end}}>
{{.Log}}</div>
</main>
{{template "jobscript"}}
</body>
</html>
{{end}}`

// jobScriptTmpl is the job page's script: it follows the live log,
// loads earlier lines, finds the line the address names (#L120) and
// filters the log by what is typed in the search box. New lines are cut
// into step sections here as the server cuts the lines it draws.
const jobScriptTmpl = `{{define "jobscript"}}<script>
(function () {
  var log = document.getElementById('log');
  var times = document.getElementById('times');
  times.addEventListener('change', function () { log.classList.toggle('times', times.checked); });
  var cfg = log.dataset;
  var base = '/jobs/' + cfg.job;
  var START = /^\u2500\u2500 step (\d+)\/(\d+): (.*)$/;
  var END = /^\u2500\u2500 step (\d+)\/\d+ (succeeded|failed with exit code \d+) in (\S+): /;
  var next = +cfg.next, runs = +cfg.runs, query = '';
  var box = document.getElementById('search');
  var link = document.getElementById('earlier');
  var busy = null;

  function text(id, t) { document.getElementById(id).textContent = t; }
  function matches(el) { return query === '' || el.textContent.toLowerCase().indexOf(query) >= 0; }

  // Search: hide what does not match, and sections with nothing that
  // does; open the sections that have something.
  function filter() {
    var n = 0;
    log.querySelectorAll('.seg').forEach(function (seg) {
      var any = false;
      seg.querySelectorAll('.l').forEach(function (el) {
        var ok = matches(el);
        el.classList.toggle('nomatch', !ok);
        if (ok) { any = true; n++; }
      });
      seg.classList.toggle('nomatch', !any && query !== '');
      if (any && query !== '' && seg.tagName === 'DETAILS') { seg.open = true; }
    });
    text('matches', query === '' ? '' : n + ' matching');
  }
  box.addEventListener('input', function () { query = box.value.trim().toLowerCase(); filter(); });

  function section(tag, cls, key) {
    var s = document.createElement(tag);
    s.className = cls;
    s.dataset.seg = key;
    s.innerHTML = (tag === 'details' ? '<summary><span class="sh"></span> <code></code> <span class="res">running</span> <span class="took"></span></summary>' : '') + '<div class="lines"></div>';
    return log.appendChild(s);
  }

  // add puts one line from the live stream into the section it belongs
  // in, starting a step's section at its start marker and closing it at
  // its end marker.
  function add(html) {
    var el = document.createElement('div');
    el.className = 'l';
    el.id = 'L' + next;
    // A live line is dated as it arrives: within the poll of its output.
    el.innerHTML = '<a href="#L' + next + '" data-n="' + next + '" data-t="' + new Date().toISOString().slice(11, 19) + '"></a>' + html;
    next++;
    var t = el.textContent, seg = log.lastElementChild, m = START.exec(t);
    if (m) {
      seg = section('details', 'seg step running', 's' + runs++);
      seg.open = true;
      seg.querySelector('.sh').textContent = 'step ' + m[1] + '/' + m[2];
      seg.querySelector('code').textContent = m[3];
    } else if (!seg) {
      seg = section('div', 'seg out', 'o-1');
    } else if (seg.dataset.ended) {
      seg = section('div', 'seg out', 'o' + seg.dataset.seg.slice(1));
    }
    seg.querySelector('.lines').appendChild(el);
    if ((m = END.exec(t)) && seg.tagName === 'DETAILS') {
      seg.dataset.ended = '1';
      seg.className = 'seg step ' + (m[2] === 'succeeded' ? 'succeeded' : 'failed');
      seg.querySelector('.res').textContent = m[2];
      seg.querySelector('.took').textContent = m[3];
    }
    if (query !== '') {
      el.classList.toggle('nomatch', !matches(el));
      seg.classList.toggle('nomatch', !seg.querySelector('.l:not(.nomatch)'));
    }
  }

  // earlier loads the lines before those shown; the section they cut in
  // two is joined again.
  function earlier() {
    if (busy) { return busy; }
    busy = fetch(base + '/lines?' + cfg.query + '&before=' + link.dataset.before, {credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      var from = r.headers.get('X-Log-From');
      return r.text().then(function (html) { return {from: from, html: html}; });
    }).then(function (got) {
      var height = document.documentElement.scrollHeight;
      var tmp = document.createElement('div');
      tmp.innerHTML = got.html;
      var first = log.firstElementChild, joint = tmp.lastElementChild;
      if (first && joint && first.dataset.seg === joint.dataset.seg) {
        var into = first.querySelector('.lines');
        into.prepend.apply(into, Array.from(joint.querySelector('.lines').childNodes));
        joint.remove();
      }
      log.prepend.apply(log, Array.from(tmp.childNodes));
      window.scrollBy(0, document.documentElement.scrollHeight - height);
      link.dataset.before = got.from;
      if (got.from === '0') { document.getElementById('earlier-bar').remove(); link = null; }
      if (query !== '') { filter(); }
      busy = null;
    }, function (err) {
      link.textContent = 'earlier lines (failed: ' + err.message + '; try again)';
      busy = null;
      throw err;
    });
    return busy;
  }
  if (link) {
    link.addEventListener('click', function (e) { e.preventDefault(); earlier().catch(function () {}); });
  }

  // target shows the line the address names, loading earlier lines
  // until it is there, and opens the section it is in.
  function target() {
    var m = /^#L(\d+)$/.exec(location.hash);
    if (!m) { return; }
    var el = document.getElementById('L' + m[1]);
    if (!el) {
      var top = log.querySelector('.l');
      if (link && (!top || +m[1] < +top.id.slice(1))) { earlier().then(target, function () {}); }
      return;
    }
    log.querySelectorAll('.l.hl').forEach(function (x) { x.classList.remove('hl'); });
    el.classList.add('hl');
    for (var p = el.parentElement; p && p !== log; p = p.parentElement) {
      if (p.tagName === 'DETAILS') { p.open = true; }
    }
    el.scrollIntoView({block: 'center'});
  }
  window.addEventListener('hashchange', target);
  target();

  if (!cfg.live) { return; }
  var es = new EventSource(base + '/events?' + cfg.query + '&from=' + cfg.offset);
  es.addEventListener('log', function (e) {
    var atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    e.data.split('\n').forEach(add);
    if (atEnd && !location.hash) { window.scrollTo(0, document.body.scrollHeight); }
  });
  es.addEventListener('state', function (e) {
    var s = JSON.parse(e.data);
    var state = document.getElementById('state');
    state.textContent = s.state;
    state.className = 'state ' + s.state;
    text('elapsed', s.elapsed);
    text('reason', s.reason || '');
    if (s.exit !== null && s.exit !== undefined) { text('exit', 'exit code ' + s.exit); }
    if (s.started) { text('started', s.started); text('waited', 'after ' + s.waited + ' in the queue'); }
    if (s.finished) {
      text('finished', s.finished);
      text('ran', 'ran ' + s.elapsed);
      log.querySelectorAll('.step.running').forEach(function (seg) {
        seg.className = 'seg step other';
        seg.querySelector('.res').textContent = s.state;
      });
    }
  });
  es.addEventListener('end', function () { es.close(); });
})();
</script>{{end}}`

const listTmpl = `{{define "list"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jobs · gantry</title>
<style>{{template "style"}}</style>
</head>
<body>
<header>
<h1>Jobs</h1>
<form id="filter" method="get" action="/jobs">
{{range $k, $v := .Sig}}<input type="hidden" name="{{$k}}" value="{{index $v 0}}">{{end}}
<label>repo <input name="repo" value="{{.Filter.Repo}}" size="14"></label>
<label>state <select name="state"><option value="">any</option>{{range .States}}<option {{if eq (print .) $.Filter.State}}selected{{end}}>{{.}}</option>{{end}}</select></label>
<label>person <input name="person" value="{{.Filter.Person}}" size="14" placeholder="U0123… or github"></label>
<label>environment <input name="env" value="{{.Filter.Env}}" size="12"></label>
<button type="submit">filter</button>
<a href="{{.Clear}}">clear</a>
</form>
</header>
<main>
<table id="jobs">
<tr><th>job</th><th>what</th><th>commit</th><th>state</th><th>by</th><th>queued</th><th>took</th></tr>
{{range .Rows}}<tr class="job"><td><a href="{{.URL}}">{{.Name}}</a></td><td>{{.What}} {{.Target}}</td><td><code>{{.SHA}}</code></td><td><span class="state {{.State}}">{{.State}}</span></td><td>{{.Who}}</td><td>{{.Queued}}</td><td>{{.Took}}</td></tr>
{{else}}<tr><td colspan="7">No jobs match.</td></tr>
{{end}}</table>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
<nav>{{if .Newest}}<a id="newest" href="{{.Newest}}">newest</a> {{end}}{{if .Older}}<a id="older" href="{{.Older}}">older</a>{{end}}</nav>
</main>
</body>
</html>
{{end}}`
