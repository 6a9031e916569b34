"""Render a :class:`~taoke.report._model.Report` as ONE self-contained HTML file.

Inline CSS, figures as ``data:image/svg+xml;base64`` images (each SVG isolated, so ids of different figures never
collide), no script, no font or network request: the file opens the same offline, in a mail attachment or in a
court archive. Collapsible parts use ``<details>`` (no JavaScript). Every text is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import json

from taoke.report._model import Report, Table
from taoke.report._plots import INSTALL_HINT, render_svg

TONES = {
    "alert": ("undeclared-derivation", "declared-unsupported"),
    "related": ("derived", "repackaged", "identical", "extended", "related", "shifted", "permuted", "same",
                "subset", "superset"),
    "independent": ("unrelated", "independent", "different", "none"),
    "ok": ("consistent",),
}

CSS = """
:root{--fg:#1d2329;--muted:#5c6670;--line:#d9dee3;--bg:#fff;--soft:#f5f7f9;--alert:#b42318;--related:#b54708;
--independent:#175cd3;--ok:#067647;--unknown:#5c6670}
*{box-sizing:border-box}
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;color:var(--fg);
background:var(--bg);margin:0;line-height:1.45;font-size:15px}
main{max-width:1100px;margin:0 auto;padding:28px 32px 60px}
h1{font-size:1.55em;margin:0 0 6px}h2{font-size:1.2em;margin:34px 0 10px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:1.02em;margin:22px 0 6px}
.kicker{color:var(--muted);font-size:.85em;text-transform:uppercase;letter-spacing:.06em}
.verdict{border:1px solid var(--line);border-left:6px solid var(--unknown);background:var(--soft);
padding:14px 18px;margin:16px 0;border-radius:4px}
.verdict.alert{border-left-color:var(--alert)}.verdict.related{border-left-color:var(--related)}
.verdict.independent{border-left-color:var(--independent)}.verdict.ok{border-left-color:var(--ok)}
.badge{display:inline-block;font-weight:700;font-size:.8em;padding:2px 8px;border-radius:3px;color:#fff;
background:var(--unknown);text-transform:uppercase;letter-spacing:.04em;margin-right:8px}
.badge.alert{background:var(--alert)}.badge.related{background:var(--related)}
.badge.independent{background:var(--independent)}.badge.ok{background:var(--ok)}
.sentence{font-size:1.12em;font-weight:600;margin:8px 0}
.sure{color:var(--muted)}.sure b{color:var(--fg)}
table{border-collapse:collapse;width:100%;font-size:.9em;margin:6px 0 4px}
th,td{border:1px solid var(--line);padding:5px 8px;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
td code,li code,p code{font-size:.92em}
.role-decides{font-weight:700}.role-reference,.role-descriptive{color:var(--muted)}
figure{margin:16px 0 26px;border:1px solid var(--line);border-radius:4px;padding:10px}
figure img{display:block;max-width:100%;height:auto;margin:0 auto}
figcaption{color:var(--muted);font-size:.88em;margin-top:8px}
.note{color:var(--muted);font-size:.88em}
ul.caveats li{margin:4px 0}
pre{background:var(--soft);border:1px solid var(--line);padding:10px;overflow-x:auto;font-size:.82em;
white-space:pre-wrap;word-break:break-all}
code.hash{font-size:.8em;word-break:break-all}
details{margin:8px 0}summary{cursor:pointer;color:var(--muted)}
footer{margin-top:40px;color:var(--muted);font-size:.82em;border-top:1px solid var(--line);padding-top:10px}
"""


def tone(verdict: str) -> str:
    v = verdict.lower()
    for name, keys in TONES.items():
        if any(v == k or v.startswith(k + "-") or v.startswith(k + " ") for k in keys):
            return name
    return "unknown"


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _table(t: Table) -> str:
    head = "".join(f"<th>{_e(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    note = f'<p class="note">{_e(t.note)}</p>' if t.note else ""
    return f"<h3>{_e(t.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


def figure_html(i: int, title: str, caption: str, svg: str | None) -> str:
    if svg is None:
        return (f'<figure class="missing"><p class="note">Figure {i}: {_e(title)} — not drawn ({_e(INSTALL_HINT)})'
                f"; the numbers are in the report's JSON.</p></figure>")
    b64 = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (f'<figure id="fig-{i}" class="plot"><img alt="{_e(title)}" src="data:image/svg+xml;base64,{b64}">'
            f"<figcaption><b>Figure {i}. {_e(title)}.</b> {_e(caption)}</figcaption></figure>")


def render_html(r: Report) -> str:
    """The report as one HTML document (a string)."""
    t = tone(r.verdict)
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
        "style-src 'unsafe-inline'\">",
        f"<title>taoke report: {_e(r.title)}</title><style>{CSS}</style></head><body><main>",
        f'<div class="kicker">taoke report · {_e(r.kind)} · {_e(r.provenance.created)}</div>',
        f"<h1>{_e(r.title)}</h1>",
        f'<section class="verdict {t}" id="verdict"><span class="badge {t}">{_e(r.verdict)}</span>'
        f'<p class="sentence">{_e(r.sentence)}</p>'
        f'<p class="sure">How sure: <b>{_e(r.confidence)}</b> — {_e(r.confidence_text)}</p></section>',
    ]
    if r.evidence:
        rows = "".join(
            f'<tr class="role-{_e(e.role)}"><td>{_e(e.method)}</td><td>{_e(e.statistic)}</td>'
            f'<td class="num">{_e(e.p_value or "—")}</td><td>{_e(e.null)}</td><td>{_e(e.role)}</td>'
            f"<td>{_e(e.note)}</td></tr>" for e in r.evidence)
        parts.append('<h2 id="evidence">Evidence</h2><table class="evidence"><thead><tr><th>method</th>'
                     "<th>statistic</th><th>p-value</th><th>calibrated against (null)</th><th>role</th>"
                     f"<th>note</th></tr></thead><tbody>{rows}</tbody></table>"
                     '<p class="note">role: <b>decides</b> = the test the verdict rests on; supports = agrees '
                     "with it; reference / descriptive = shown for context, not used to decide.</p>")
    if r.plots:
        parts.append('<h2 id="plots">Plots</h2>')
        parts += [figure_html(i, p.title, p.caption, render_svg(p)) for i, p in enumerate(r.plots, 1)]
    if r.tables:
        parts.append('<h2 id="details">Details</h2>')
        parts += [_table(tb) for tb in r.tables]
    parts.append('<h2 id="caveats">What this evidence cannot show</h2><ul class="caveats">'
                 + "".join(f"<li>{_e(c)}</li>" for c in r.caveats) + "</ul>")
    pv = r.provenance
    libs = ", ".join(f"{k} {v}" for k, v in pv.libraries.items())
    parts.append(f'<h2 id="reproduce">Reproduce</h2><p>Command:</p><pre>{_e(pv.command)}</pre>'
                 f"<p>taoke {_e(pv.taoke_version)} · Python {_e(pv.python)} · {_e(pv.platform)}</p>"
                 f'<p class="note">libraries: {_e(libs)}</p>')
    if r.inputs:
        input_rows: list[str] = []
        for inp in r.inputs:
            size = "—" if inp.size is None else f"{inp.size:,}"
            files = ""
            if inp.files:
                inner = "".join(f"<tr><td>{_e(f.path)}</td><td class=\"num\">{f.size:,}</td>"
                                f'<td><code class="hash">{_e(f.sha256)}</code></td></tr>' for f in inp.files)
                files = (f"<details><summary>{len(inp.files)} files</summary><table><tbody>{inner}</tbody>"
                         "</table></details>")
            input_rows.append(f"<tr><td>{_e(inp.label)}</td><td>{_e(inp.location)}<br>{files}</td><td>{_e(inp.kind)}</td>"
                        f'<td class="num">{size}</td><td><code class="hash">{_e(inp.sha256 or "—")}</code>'
                        f'{"<br><span class=note>" + _e(inp.note) + "</span>" if inp.note else ""}</td></tr>')
        parts.append("<h3>Inputs (sha256)</h3><table><thead><tr><th>input</th><th>location</th><th>kind</th>"
                     f"<th>bytes</th><th>sha256</th></tr></thead><tbody>{''.join(input_rows)}</tbody></table>"
                     '<p class="note">A folder\'s sha256 is the sha256 of its sorted lines '
                     "“path size sha256”, one per file.</p>")
    if r.source:
        parts.append(f"<details><summary>Raw result ({_e(r.source_format)})</summary>"
                     f"<pre>{_e(json.dumps(r.source, indent=1, ensure_ascii=False, default=str))}</pre></details>")
    parts.append(f"<footer>Generated by taoke {_e(pv.taoke_version)} (format taoke.report v1). Informational: "
                 "statistical evidence about model lineage, not legal advice.</footer></main></body></html>")
    return "\n".join(parts)
