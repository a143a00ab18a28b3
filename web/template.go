package web

import "html/template"

var pageTmpl = template.Must(template.New("job").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · gantry</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 0; color: #1d1f23; background: #f6f7f9; }
header { padding: 16px 24px; background: #fff; border-bottom: 1px solid #dde1e6; }
h1 { font-size: 18px; margin: 0 0 6px; }
.meta { color: #5b6270; }
.meta span { margin-right: 14px; }
.state { font-weight: 600; padding: 1px 8px; border-radius: 10px; background: #e8eaee; }
.state.succeeded { background: #d7f5dd; color: #13612a; }
.state.failed, .state.errored { background: #fde0e0; color: #8f1d1d; }
.state.running { background: #dceaff; color: #1b4d9b; }
.state.cancelled { background: #ececec; color: #555; }
main { padding: 16px 24px; }
table { border-collapse: collapse; margin-bottom: 16px; background: #fff; }
td, th { border: 1px solid #dde1e6; padding: 4px 10px; text-align: left; }
pre#log { background: #15171c; color: #d6d9de; padding: 12px; overflow-x: auto; font: 12.5px/1.4 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
.fg-black{color:#555}.fg-red{color:#ff6b6b}.fg-green{color:#5fd37a}.fg-yellow{color:#f0c24b}.fg-blue{color:#6aa6ff}.fg-magenta{color:#d787ff}.fg-cyan{color:#4fd1d9}.fg-white{color:#e8e8e8}
.fg-bright-black{color:#888}.fg-bright-red{color:#ff9090}.fg-bright-green{color:#8df0a5}.fg-bright-yellow{color:#ffe08a}.fg-bright-blue{color:#9cc4ff}.fg-bright-magenta{color:#ebb0ff}.fg-bright-cyan{color:#8ff0f5}.fg-bright-white{color:#fff}
.bg-red{background:#7a1f1f}.bg-green{background:#1f5a2c}.bg-yellow{background:#6b5514}.bg-blue{background:#1f3b6b}
.bold{font-weight:700}.dim{opacity:.7}.italic{font-style:italic}.underline{text-decoration:underline}
a { color: #1b5fc1; }
</style>
</head>
<body>
<header>
<h1>{{.Title}}</h1>
<div class="meta">
<span id="state" class="state {{.State}}">{{.State}}</span>
{{if .Job.SHA}}<span>{{.Job.ShortSHA}}</span>{{end}}
<span>by {{.Who}}</span>
<span id="elapsed">{{.Elapsed}}</span>
<span id="exit">{{if .ExitCode}}exit code {{.ExitCode}}{{end}}</span>
<span id="reason">{{.Reason}}</span>
<a href="{{.RawURL}}&amp;download=1">download raw log</a>
</div>
</header>
<main>
<table id="steps">
<tr><th>#</th><th>step</th><th>result</th><th>took</th></tr>
{{range .Steps}}<tr><td>{{.N}}</td><td><code>{{.Name}}</code></td><td>{{.Result}}</td><td>{{.Duration}}</td></tr>
{{end}}</table>
{{if .From}}<p id="earlier-bar"><a id="earlier" href="{{.RawURL}}" data-before="{{.From}}">earlier lines</a> · the page shows the end of the log; the <a href="{{.RawURL}}">raw log</a> has all of it</p>{{end}}
<pre id="log">{{.Log}}</pre>
</main>
{{if .From}}<script>
(function () {
  var link = document.getElementById('earlier');
  var log = document.getElementById('log');
  var busy = false;
  link.addEventListener('click', function (e) {
    e.preventDefault();
    if (busy) { return; }
    busy = true;
    var url = '/jobs/{{.Job.ID}}/lines?{{.Query}}&before=' + link.dataset.before;
    fetch(url, {credentials: 'same-origin'}).then(function (r) {
      if (!r.ok) { throw new Error('HTTP ' + r.status); }
      var from = r.headers.get('X-Log-From');
      return r.text().then(function (html) { return {from: from, html: html}; });
    }).then(function (got) {
      var before = document.documentElement.scrollHeight;
      log.insertAdjacentHTML('afterbegin', got.html);
      window.scrollBy(0, document.documentElement.scrollHeight - before);
      link.dataset.before = got.from;
      if (got.from === '0') { document.getElementById('earlier-bar').remove(); }
      busy = false;
    }).catch(function (err) {
      link.textContent = 'earlier lines (failed: ' + err.message + '; try again)';
      busy = false;
    });
  });
})();
</script>{{end}}
{{if .Live}}<script>
(function () {
  var log = document.getElementById('log');
  var state = document.getElementById('state');
  var url = '/jobs/{{.Job.ID}}/events?{{.Query}}&from={{.Offset}}';
  var es = new EventSource(url);
  es.addEventListener('log', function (e) {
    var atEnd = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
    log.insertAdjacentHTML('beforeend', e.data + '\n');
    if (atEnd) { window.scrollTo(0, document.body.scrollHeight); }
  });
  es.addEventListener('state', function (e) {
    var s = JSON.parse(e.data);
    state.textContent = s.state;
    state.className = 'state ' + s.state;
    document.getElementById('elapsed').textContent = s.elapsed;
    document.getElementById('reason').textContent = s.reason || '';
    if (s.exit !== null && s.exit !== undefined) { document.getElementById('exit').textContent = 'exit code ' + s.exit; }
  });
  es.addEventListener('end', function () { es.close(); });
})();
</script>{{end}}
</body>
</html>
`))
