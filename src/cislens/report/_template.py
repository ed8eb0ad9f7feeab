"""The report's Jinja2 template (kept in a module so that it ships without package data)."""
# ruff: noqa: E501

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .5em 0 1em; font-size: .85em; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: right; }
th { background: #f3f3f3; } td.text { text-align: left; }
tr.best td { background: #e6f4e6; font-weight: bold; }
tr.pass td { background: #e6f4e6; }
img { max-width: 100%; } .note { color: #666; font-size: .9em; }
.missing { color: #a60; font-style: italic; }
figure { margin: .5em 0 1.2em; } figcaption { font-size: .85em; color: #444; }
.pattern { border: 1px solid #eee; padding: .5em; margin-bottom: 1em; }
</style>
</head>
<body>
{% macro table(t, best=None, marked=[]) -%}
{% if t and t.rows %}
<table>
<tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in t.rows %}<tr{% if best is not none and loop.index0 == best %} class="best"{% elif loop.index0 in marked %} class="pass"{% endif %}>
{% for v in row %}<td{% if v.text %} class="text"{% endif %}>{{ v.value }}</td>{% endfor %}</tr>
{% endfor %}
</table>
{% else %}<p class="missing">(empty)</p>{% endif %}
{%- endmacro %}
{% macro images(items) -%}
{% for item in items %}<figure><img alt="{{ item.caption }}" src="data:image/png;base64,{{ item.png }}">
<figcaption>{{ item.caption }}</figcaption></figure>{% endfor %}
{%- endmacro %}
<h1>{{ title }}</h1>
<p class="note">cislens {{ version }} &middot; seed {{ seed }} &middot; generated {{ generated }}</p>

<section id="data">
<h2>Data and model</h2>
{% if summary %}<pre>{{ summary }}</pre>{% endif %}
{% if metrics %}<h3>Test metrics per task</h3>{{ table(metrics) }}{% else %}<p class="missing">No model metrics.</p>{% endif %}
</section>

<section id="tracks">
<h2>Attribution tracks</h2>
<p class="note">Projected scores (hypothetical &times; one-hot) as sequence logos; recorded,
task-relevant instances are shaded.</p>
{% if tracks %}{{ images(tracks) }}{% else %}<p class="missing">No attribution tracks.</p>{% endif %}
</section>

<section id="benchmark">
<h2>Attribution benchmark against the ground truth</h2>
{% if benchmark %}
<p class="note">{{ benchmark_note }}</p>
{{ table(benchmark, best=0) }}
{% else %}<p class="missing">No benchmark.</p>{% endif %}
</section>

<section id="motifs">
<h2>Discovered motifs</h2>
{% if motif_recovery %}<h3>Recovery of the simulated motifs</h3>
<p class="note">{{ motif_note }}</p>{{ table(motif_recovery) }}{% endif %}
{% if instances %}<h3>Instance calls</h3>{{ table(instances) }}{% endif %}
{% if patterns %}{% for p in patterns %}<div class="pattern">
<h3>{{ p.name }} &mdash; {{ p.n_seqlets }} seqlets{% if p.truth %} &mdash; matches simulated {{ p.truth }}{% endif %}</h3>
{{ images(p.images) }}
{% if p.matches %}{{ table(p.matches) }}{% endif %}
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
</body>
</html>
"""
