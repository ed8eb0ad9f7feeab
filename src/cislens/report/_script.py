"""The report's inline style sheet and the sequence browser's script (no library, no fetch).

The script reads the JSON of ``<script id="cislens-data">`` (made by
:func:`cislens.report.browser.browser_data`), fills the sortable table ``#seq-table`` and, for
the sequence named in the address (``#seq-<row>``), draws each method's track on a canvas.
"""
# ruff: noqa: E501

CSS = """
body { font-family: system-ui, sans-serif; margin: 0; color: #222; }
nav#toc { position: fixed; top: 0; left: 0; bottom: 0; width: 190px; overflow-y: auto; background: #f7f7f7;
  border-right: 1px solid #ddd; padding: 1em .8em; font-size: .85em; box-sizing: border-box; }
nav#toc ul { padding-left: 1em; margin: .3em 0; } nav#toc li { margin: .2em 0; }
main { margin-left: 190px; padding: 1em 2em; max-width: 1150px; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
.scroll { overflow-x: auto; max-width: 100%; } .tall { max-height: 28em; overflow-y: auto; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .85em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; position: sticky; top: 0; } td.text { text-align: left; }
#seq-table th { cursor: pointer; } #seq-table tr:hover td { background: #eef4fb; cursor: pointer; }
#seq-table tr.current td { background: #dbe9f8; }
tr.best td { background: #e6f4e6; font-weight: bold; }
tr.pass td { background: #e6f4e6; }
img { max-width: 100%; } .note { color: #666; font-size: .9em; }
.missing { color: #a60; font-style: italic; }
.warning { border: 2px solid #c00; background: #fff0f0; padding: .6em 1em; margin: 1em 0; }
figure { margin: .5em 0 1.2em; } figcaption { font-size: .85em; color: #444; }
.pattern { border: 1px solid #eee; padding: .5em; margin-bottom: 1em; }
.detail { border: 1px solid #cde; padding: .5em; margin: .5em 0; background: #fbfdff; }
.track { font-size: .8em; color: #444; margin-top: .4em; } canvas { display: block; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("cislens-data").textContent);
  var byRow = {};
  data.sequences.forEach(function (s) { byRow[s.row] = s; });
  var COLOURS = { A: "#109648", C: "#255c99", G: "#f7b32b", T: "#d62839", N: "#999999" };
  var table = document.getElementById("seq-table");
  var detail = document.getElementById("seq-detail");
  var sortKey = data.tasks.length ? "pred0" : "row", sortDown = true;

  function columns() {
    var cols = [["row", "test row", function (s) { return s.row; }],
                ["explained", "explained for", function (s) { return explained(s).map(function (t) { return data.tasks[t]; }).join(", "); }]];
    data.tasks.forEach(function (name, t) {
      cols.push(["pred" + t, "prediction " + name, function (s) { return s.pred[t]; }]);
      if (data.labelled) { cols.push(["label" + t, "label " + name, function (s) { return s.label[t]; }]); }
    });
    cols.push(["truth", "recorded instances", function (s) { return s.truth.map(function (m) { return m[0]; }).join(" "); }]);
    cols.push(["hits", "called instances", function (s) { return s.hits.map(function (h) { return h[0]; }).join(" "); }]);
    return cols;
  }
  function explained(s) {
    var found = {};
    Object.keys(s.tracks).forEach(function (m) { Object.keys(s.tracks[m]).forEach(function (t) { found[t] = 1; }); });
    return Object.keys(found).map(Number).sort(function (a, b) { return a - b; });
  }
  function cell(tag, text) { var c = document.createElement(tag); c.textContent = text; return c; }

  function fillTable() {
    var cols = columns(), key = cols.filter(function (c) { return c[0] === sortKey; })[0] || cols[0];
    var rows = data.sequences.slice().sort(function (a, b) {
      var x = key[2](a), y = key[2](b), d = x < y ? -1 : (x > y ? 1 : 0);
      return sortDown ? -d : d;
    });
    table.textContent = "";
    var head = document.createElement("tr");
    cols.forEach(function (c) {
      var th = cell("th", c[1] + (c[0] === sortKey ? (sortDown ? " \u25bc" : " \u25b2") : ""));
      th.addEventListener("click", function () { sortDown = c[0] === sortKey ? !sortDown : true; sortKey = c[0]; fillTable(); });
      head.appendChild(th);
    });
    table.appendChild(head);
    rows.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.id = "row-" + s.row;
      cols.forEach(function (c) {
        var v = c[2](s), td = cell("td", typeof v === "number" ? String(v) : v);
        if (typeof v !== "number") { td.className = "text"; }
        tr.appendChild(td);
      });
      tr.addEventListener("click", function () { location.hash = "seq-" + s.row; });
      table.appendChild(tr);
    });
    mark();
  }
  function mark() {
    var current = table.querySelector("tr.current");
    if (current) { current.className = ""; }
    var m = /^#seq-(\d+)$/.exec(location.hash), tr = m && document.getElementById("row-" + m[1]);
    if (tr) { tr.className = "current"; }
  }

  function decode(text) {
    var raw = atob(text), out = new Int8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { out[i] = (raw.charCodeAt(i) << 24) >> 24; }
    return out;
  }
  function drawTrack(canvas, s, track) {
    var w = 6, h = 70, mid = h / 2, L = s.seq.length, ctx = canvas.getContext("2d");
    canvas.width = L * w; canvas.height = h;
    var q = decode(track[1]);
    s.truth.forEach(function (m) {
      ctx.fillStyle = "rgba(255,140,0,0.18)"; ctx.fillRect(m[1] * w, 0, (m[2] - m[1]) * w, h);
      ctx.fillStyle = "#c60"; ctx.font = "9px sans-serif"; ctx.fillText(m[0], m[1] * w + 1, 9);
    });
    s.hits.forEach(function (m) {
      ctx.fillStyle = "rgba(120,40,160,0.8)"; ctx.fillRect(m[1] * w, h - 3, (m[2] - m[1]) * w, 3);
    });
    ctx.fillStyle = "#bbb"; ctx.fillRect(0, mid, L * w, 0.5);
    ctx.font = "bold 40px monospace";
    for (var i = 0; i < L; i++) {
      var base = s.seq[i], size = q[i] / 127 * (mid - 4);
      if (Math.abs(size) < 0.3) { continue; }
      var metrics = ctx.measureText(base), asc = metrics.actualBoundingBoxAscent || 29;
      ctx.save(); ctx.translate(i * w, mid); ctx.scale(w / metrics.width, size / asc);
      ctx.fillStyle = COLOURS[base] || "#999"; ctx.fillText(base, 0, 0); ctx.restore();
    }
    ctx.fillStyle = "#888"; ctx.font = "9px sans-serif";
    for (var p = 0; p < L; p += 20) { ctx.fillText(String(p), p * w, h - 5); }
  }
  function show(row) {
    var s = byRow[row];
    if (!s) { return; }
    detail.textContent = "";
    detail.appendChild(cell("h3", "Test sequence " + row));
    var facts = data.tasks.map(function (name, t) {
      return name + ": prediction " + s.pred[t] + (data.labelled ? ", label " + s.label[t] : "");
    });
    detail.appendChild(cell("p", facts.join(" \u00b7 ")));
    explained(s).forEach(function (t) {
      data.methods.forEach(function (method) {
        var track = s.tracks[method] && s.tracks[method][String(t)];
        if (!track) { return; }
        detail.appendChild(cell("div", method + " \u2014 task " + data.tasks[t] + " (max |score| " + track[0].toPrecision(3) + ")")).className = "track";
        var box = document.createElement("div"), canvas = document.createElement("canvas");
        box.className = "scroll"; box.appendChild(canvas); detail.appendChild(box);
        drawTrack(canvas, s, track);
      });
    });
    var list = document.createElement("table");
    list.appendChild(document.createElement("tr"));
    ["kind", "motif / pattern", "start", "end", "strand", "detail"].forEach(function (c) { list.firstChild.appendChild(cell("th", c)); });
    s.truth.forEach(function (m) {
      var tr = document.createElement("tr");
      var rel = m[4].map(function (t) { return data.tasks[t]; }).join(", ");
      ["recorded", m[0], m[1], m[2], m[3], rel ? "relevant to " + rel : "relevant to no task"].forEach(function (v) { tr.appendChild(cell("td", String(v))); });
      list.appendChild(tr);
    });
    s.hits.forEach(function (m) {
      var tr = document.createElement("tr");
      ["called", m[0], m[1], m[2], m[3], "score " + m[4]].forEach(function (v) { tr.appendChild(cell("td", String(v))); });
      list.appendChild(tr);
    });
    if (s.truth.length || s.hits.length) { detail.appendChild(list); }
  }
  function route() {
    var m = /^#seq-(\d+)$/.exec(location.hash);
    if (m) { show(Number(m[1])); mark(); detail.scrollIntoView(); }
  }
  fillTable();
  window.addEventListener("hashchange", route);
  if (location.hash) { route(); } else if (data.sequences.length) {
    var first = table.querySelectorAll("tr")[1];
    if (first) { show(Number(first.id.slice(4))); }
  }
})();
"""

__all__ = ["CSS", "SCRIPT"]
