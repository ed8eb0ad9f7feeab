"""The report's Jinja2 template (kept in a module so that it ships without package data).

The page is one file: a contents sidebar, then the model's quality (and the quality gate's
warnings) before any interpretation, the sequence browser (drawn by the inlined script of
:mod:`cislens.report._script` from the embedded JSON), one page per discovered motif, and the
rest. Nothing is fetched: images are data URIs, the script and its data are inline.
"""
# ruff: noqa: E501

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>{{ css }}</style>
</head>
<body>
{% macro table(t, best=None, marked=[], links=None, tall=False) -%}
{% if t and t.rows %}
<div class="scroll{% if tall %} tall{% endif %}"><table>
<tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr{% if best is not none and loop.index0 == best %} class="best"{% elif loop.index0 in marked %} class="pass"{% endif %}>
{% for v in row %}<td{% if v.text %} class="text"{% endif %}>{% if links and loop.index0 == 0 %}<a href="#seq-{{ v.value }}">{{ v.value }}</a>{% else %}{{ v.value }}{% endif %}</td>{% endfor %}</tr>
{% endfor %}
</table></div>
{% else %}<p class="missing">(empty)</p>{% endif %}
{%- endmacro %}
{% macro images(items) -%}
{% for item in items %}<figure><img alt="{{ item.caption }}" src="data:image/png;base64,{{ item.png }}">
<figcaption>{{ item.caption }}</figcaption></figure>{% endfor %}
{%- endmacro %}
<nav id="toc">
<b>Contents</b>
<ul>
<li><a href="#data">Model quality and data</a></li>
<li><a href="#sequences">Sequence browser{% if n_sequences %} ({{ n_sequences }}){% endif %}</a></li>
<li><a href="#tracks">Example tracks</a></li>
<li><a href="#benchmark">Benchmark</a></li>
<li><a href="#motifs">Motifs</a>{% if patterns %}<ul>{% for p in patterns %}<li><a href="#{{ p.anchor }}">{{ p.name }}</a>{% if p.n_instances is not none %} ({{ p.n_instances }}){% endif %}</li>{% endfor %}</ul>{% endif %}</li>
{% if argminn %}<li><a href="#argminn">ARGMINN</a></li>{% endif %}
<li><a href="#gia">GIA</a></li>
<li><a href="#ig-path">IG path</a></li>
<li><a href="#parameters">Parameters</a></li>
</ul>
</nav>
<main>
<h1>{{ title }}</h1>
<p class="note">cislens {{ version }} &middot; seed {{ seed }} &middot; generated {{ generated }}</p>
{% if quality %}<div class="warning" id="quality-warning"><b>Warning: the model is near chance on held-out data.</b>
The explanations below describe what this model does; where it has learned little they are mostly noise.
<ul>{% for line in quality %}<li>{{ line }}</li>{% endfor %}</ul>{{ quality_note }}</div>{% endif %}

<section id="data">
<h2>Model quality and data</h2>
{% if metrics %}<h3>Test metrics per task</h3>{{ table(metrics) }}<p class="note">{{ quality_note }}</p>{% else %}<p class="missing">No model metrics.</p>{% endif %}
{% if summary %}<pre>{{ summary }}</pre>{% endif %}
</section>

<section id="sequences">
<h2>Sequence browser</h2>
{% if browser %}
<p class="note">Every explained test sequence. Click a column to sort (by a task's prediction, say), a row to show its tracks:
each method's per-position score (projected: hypothetical &times; one-hot), letters scaled by the score, below the line when negative, each track scaled to its own largest |score|.
{% if has_truth %}Orange boxes: recorded (simulated) motif instances. {% endif %}{% if has_hits %}Purple bars: instances called from the discovered patterns.{% endif %}</p>
<div id="seq-detail" class="detail"><p class="missing">Select a sequence in the table.</p></div>
<div class="scroll tall"><table id="seq-table"></table></div>
<noscript><p class="missing">The sequence browser needs JavaScript (inline; nothing is fetched).</p></noscript>
<script type="application/json" id="cislens-data">{{ browser }}</script>
{% else %}<p class="missing">No explained sequences.</p>{% endif %}
</section>

<section id="tracks">
<h2>Attribution tracks: an example per task</h2>
<p class="note">Per task, the explained sequence with the highest prediction, every method in a row: projected scores as sequence logos{% if has_truth %}; recorded, task-relevant instances are shaded{% endif %}. The sequence browser shows all the others.</p>
{% if method_notes %}<ul class="note">{% for line in method_notes %}<li>{{ line }}</li>{% endfor %}</ul>{% endif %}
{% if tracks %}{{ images(tracks) }}{% else %}<p class="missing">No attribution tracks.</p>{% endif %}
</section>

<section id="benchmark">
<h2>Attribution benchmark against the ground truth</h2>
{% if benchmark %}
<p class="note">{{ benchmark_note }}</p>
{{ table(benchmark, best=0) }}
{% else %}<p class="missing">No benchmark{% if no_truth %} (the data has no ground truth){% endif %}.</p>{% endif %}
</section>

<section id="motifs">
<h2>Discovered motifs</h2>
{% if motif_recovery %}<h3>Recovery of the simulated motifs</h3>
<p class="note">{{ motif_note }}</p>{{ table(motif_recovery) }}{% endif %}
{% if instances %}<h3>Instance calls against the recorded instances</h3>{{ table(instances) }}{% endif %}
{% if patterns %}{% for p in patterns %}<div class="pattern" id="{{ p.anchor }}">
<h3>{{ p.name }} &mdash; {{ p.n_seqlets }} seqlets{% if p.truth %} &mdash; matches simulated {{ p.truth }}{% endif %}</h3>
{{ images(p.images) }}
<h4>TOMTOM matches</h4>{% if p.matches %}{{ table(p.matches) }}{% else %}<p class="missing">Not annotated.</p>{% endif %}
{% if p.gia %}<h4>GIA: effect of {{ p.name }} embedded in shuffled test sequences, per task</h4>{{ table(p.gia) }}{% endif %}
{% if p.instances is not none %}<h4>Called instances ({{ p.n_instances }}{% if p.n_instances > p.shown %}, the {{ p.shown }} best shown{% endif %})</h4>
<p class="note">CWM hits of {{ p.name }} in the explained sequences; row: the test sequence (opens it in the browser); bases on the pattern's strand; end exclusive.</p>
{{ table(p.instances, links=True, tall=True) }}{% endif %}
</div>{% endfor %}
{% else %}<p class="missing">No patterns were discovered.</p>{% endif %}
{% if filters %}<h3>First-layer filters</h3>{{ table(filters) }}{% endif %}
</section>

{% if argminn %}
<section id="argminn">
<h2>ARGMINN: motifs and syntax read from the model</h2>
<p class="note">{{ argminn.note }}</p>
<h3>Filters</h3>
{{ table(argminn.filters, marked=argminn.passing) }}
{% if argminn.motif_recovery %}<h3>Recovery of the simulated motifs by the passing filters</h3>{{ table(argminn.motif_recovery) }}{% endif %}
{% if argminn.instance_recovery %}<h3>Instance calls against the recorded instances</h3>
<p class="note">Overlap of at least half the shorter interval; &lt;unmatched&gt;: calls of passing filters that match no simulated motif.</p>{{ table(argminn.instance_recovery) }}{% endif %}
<h3>Instance calls per filter, layer and head</h3>
{{ table(argminn.instances) }}
{{ images(argminn.figures) }}
</section>
{% endif %}

<section id="gia">
<h2>Global importance analysis</h2>
{% if gia_table %}{{ table(gia_table) }}{% endif %}
{% if gia %}{{ images(gia) }}{% elif not gia_table %}<p class="missing">No GIA experiments.</p>{% endif %}
</section>

<section id="ig-path">
<h2>Integrated gradients: predictions along the path</h2>
{% if ig_path %}{{ images(ig_path) }}{% else %}<p class="missing">Not computed.</p>{% endif %}
</section>

<section id="parameters">
<h2>Parameters</h2>
{% if timings %}<h3>Stage times</h3>{{ table(timings) }}{% endif %}
{{ table(params) }}
</section>
</main>
{% if browser %}<script id="cislens-browser">{{ script }}</script>{% endif %}
</body>
</html>
"""
