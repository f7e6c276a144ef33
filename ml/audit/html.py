"""The audit report as one self-contained HTML page (inline CSS and script, no network).

Summary on top (status, counts, failures, advisories, waived findings), then filters by
status, framework and free text, then the controls grouped by framework and control
family with each resource's evidence, then the inventory, waivers, IAM lint and policies.
Without JavaScript every section is still there; the script only filters, and marks
`<body data-ready="1">` once it ran (the browser test checks it).
"""

from __future__ import annotations

from html import escape
from typing import Any

from ml.audit import retention
from ml.audit.report import STATUS_LABELS, evaluations_by_id, source_text, value_text

CSS = """
:root{--fail:#b42318;--pass:#067647;--adv:#b54708;--waived:#5925dc;--na:#667085;
--bg:#f9fafb;--line:#e4e7ec;font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif}
body{margin:0;background:var(--bg);color:#101828;line-height:1.45}
header,main{max-width:1200px;margin:0 auto;padding:0 24px}
header{padding-top:24px}
h1{font-size:26px;margin:0 0 4px} h2{margin-top:36px;border-bottom:2px solid var(--line)}
h3{margin:24px 0 8px;color:#344054}
.muted{color:#475467;font-size:14px}
.banner{border-radius:10px;padding:16px 20px;color:#fff;font-size:20px;font-weight:700;
margin:16px 0}
.banner.fail{background:var(--fail)} .banner.pass{background:var(--pass)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(130px,1fr));gap:12px}
.card{background:#fff;border:1px solid var(--line);border-radius:10px;padding:12px}
.card b{display:block;font-size:24px}
.badge{display:inline-block;min-width:64px;text-align:center;border-radius:999px;
padding:1px 8px;font-size:12px;font-weight:700;color:#fff;background:var(--na)}
.badge.fail,.badge.expired-waiver{background:var(--fail)} .badge.pass{background:var(--pass)}
.badge.advisory{background:var(--adv)} .badge.waived{background:var(--waived)}
#filters{position:sticky;top:0;background:#fff;border:1px solid var(--line);border-radius:10px;
padding:10px 14px;margin:20px 0;display:flex;flex-wrap:wrap;gap:14px;align-items:center;z-index:2}
#filters label{font-size:14px;white-space:nowrap}
#filters input[type=search]{padding:4px 8px;border:1px solid var(--line);border-radius:6px}
details.control{background:#fff;border:1px solid var(--line);border-radius:8px;margin:8px 0}
details.control>summary{cursor:pointer;padding:10px 12px;list-style:none}
details.control>summary small{color:#475467;margin-left:8px}
details.control .body{padding:0 12px 12px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px}
th,td{border:1px solid var(--line);padding:6px 8px;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f2f4f7}
td.msg{color:var(--fail)} code{font-size:12px;word-break:break-all}
dl{margin:0} dt{font-weight:600;font-family:monospace;font-size:12px} dd{margin:0 0 4px 12px}
.hidden{display:none!important}
ul.findings li{margin:4px 0}
"""

SCRIPT = """
(function(){
  var boxes=document.querySelectorAll('#filters input[type=checkbox]');
  var search=document.getElementById('filter-text');
  function apply(){
    var on={};boxes.forEach(function(b){on[b.dataset.kind+':'+b.value]=b.checked;});
    var text=(search.value||'').toLowerCase(), shown=0;
    document.querySelectorAll('details.control').forEach(function(c){
      var ok=on['status:'+c.dataset.status]&&on['framework:'+c.dataset.framework]
        &&(!text||c.textContent.toLowerCase().indexOf(text)>=0);
      c.classList.toggle('hidden',!ok); if(ok){shown++;}
    });
    document.querySelectorAll('section.family').forEach(function(f){
      f.classList.toggle('hidden',!f.querySelector('details.control:not(.hidden)'));
    });
    document.getElementById('visible-count').textContent=shown;
  }
  boxes.forEach(function(b){b.addEventListener('change',apply);});
  search.addEventListener('input',apply);
  apply(); document.body.dataset.ready='1';
})();
"""


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _codes(items: list[str]) -> str:
    return ", ".join(f"<code>{_e(item)}</code>" for item in items)


def _badge(status: str) -> str:
    return f'<span class="badge {_e(status)}">{_e(STATUS_LABELS[status])}</span>'


def _value(value: Any) -> str:
    full = value_text(value, None)
    if len(full) <= 160:
        return f"<code>{_e(full)}</code>"
    short = f"<code>{_e(value_text(value))}</code>"
    return f"<details><summary>{short}</summary><code>{_e(full)}</code></details>"


def _summary(report: dict[str, Any]) -> str:
    s = report["summary"]
    cards = [
        ("Resources", s["resources"]),
        ("Policies", s["policies"]),
        ("Passed", s["passed"]),
        ("Failed", s["failed"]),
        ("Advisories", s["advisories"]),
        ("Waived", s["waived"]),
        ("Expired waivers", s["expired_waivers"]),
        ("Not applicable", s["not_applicable"]),
        ("IAM lint findings", s["iam_lint_findings"]),
    ]
    parts = [
        '<section id="summary"><h2>Summary</h2>',
        f'<div class="banner {_e(s["status"])}">Audit {_e(s["status"].upper())}: '
        f"{s['failed']} mandatory failure(s), {s['expired_waivers']} expired waiver(s), "
        f"{s['advisories']} advisory finding(s)</div>",
        '<div class="cards">',
        *[f'<div class="card"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in cards],
        "</div>",
        '<p class="muted">Controls: '
        + ", ".join(f"{_badge(k)} {v}" for k, v in sorted(s["controls"].items()))
        + "</p>",
    ]
    if s["failures"]:
        parts.append('<h3>Failures</h3><ul class="findings" id="failures">')
        parts += [f"<li>{_e(f)}</li>" for f in s["failures"]]
        parts.append("</ul>")
    for status, title in (("advisory", "Advisories"), ("waived", "Waived findings")):
        rows = [e for e in report["evaluations"] if e["status"] == status]
        if rows:
            parts.append(f'<h3>{title}</h3><ul class="findings">')
            for e in rows:
                extra = ""
                if e["waiver"]:
                    extra = f" (waived by {e['waiver']['owner']} until {e['waiver']['expiry']})"
                parts += [f"<li>{_e(e['policy'])}: {_e(m)}{_e(extra)}</li>" for m in e["messages"]]
            parts.append("</ul>")
    parts.append("</section>")
    return "\n".join(parts)


def _filters(report: dict[str, Any]) -> str:
    statuses = [s for s in STATUS_LABELS if any(c["status"] == s for c in report["controls"])]
    frameworks = [
        f for f in report["frameworks"] if any(c["framework"] == f for c in report["controls"])
    ]
    boxes = [
        f'<label><input type="checkbox" data-kind="status" value="{_e(s)}" checked> '
        f"{_badge(s)}</label>"
        for s in statuses
    ]
    boxes += [
        f'<label><input type="checkbox" data-kind="framework" value="{_e(f)}" checked> '
        f"{_e(f)}</label>"
        for f in frameworks
    ]
    return (
        '<nav id="filters"><strong>Filter</strong>'
        + "".join(boxes)
        + '<input type="search" id="filter-text" placeholder="resource, policy, control…">'
        + '<span class="muted"><span id="visible-count">'
        + str(len(report["controls"]))
        + "</span> controls shown</span></nav>"
    )


def _evidence_rows(report: dict[str, Any], control: dict[str, Any]) -> str:
    by_id = evaluations_by_id(report)
    rows = []
    for i in control["evaluations"]:
        e = by_id[i]
        values = "".join(f"<dt>{_e(k)}</dt><dd>{_value(v)}</dd>" for k, v in e["values"].items())
        notes = "".join(f"<div>{_e(m)}</div>" for m in e["messages"])
        if e["waiver"]:
            w = e["waiver"]
            waived = f"Waived by {w['owner']} until {w['expiry']}: {w['justification']}"
            notes += f"<div><em>{_e(waived)}</em></div>"
        if e["reason"]:
            notes += f"<div class='muted'>Not applicable: {_e(e['reason'])}</div>"
        rows.append(
            f"<tr><td><code>{_e(e['resource'])}</code><br>"
            f"<span class='muted'>{_e(e['type'])}</span></td>"
            f"<td><code>{_e(e['policy'])}</code></td><td>{_badge(e['status'])}</td>"
            f"<td><dl>{values}</dl></td><td class='msg'>{notes}</td></tr>"
        )
    if not rows:
        rows.append(
            "<tr><td colspan=5 class='muted'>No resource of this kind in the stack.</td></tr>"
        )
    headers = ("Resource", "Policy", "Status", "Evidence (exact inputs)", "Findings")
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _controls(report: dict[str, Any]) -> str:
    parts = ['<section id="controls"><h2>Controls</h2>']
    for framework, title in report["frameworks"].items():
        controls = [c for c in report["controls"] if c["framework"] == framework]
        if not controls:
            continue
        parts.append(
            f'<section class="framework" data-framework="{_e(framework)}"><h2>{_e(title)}</h2>'
        )
        families: dict[str, list[dict[str, Any]]] = {}
        for c in controls:
            families.setdefault(c["family"], []).append(c)
        for family, members in families.items():
            parts.append(f'<section class="family"><h3>{_e(framework)} {_e(family)}</h3>')
            for c in members:
                counts = ", ".join(
                    f"{STATUS_LABELS[k]} {v}" for k, v in sorted(c["counts"].items())
                )
                is_open = " open" if c["status"] in ("fail", "expired-waiver") else ""
                parts.append(
                    f'<details class="control" id="control-{_e(c["id"].replace(" ", "-"))}" '
                    f'data-status="{_e(c["status"])}" data-framework="{_e(framework)}"{is_open}>'
                    f"<summary>{_badge(c['status'])} <strong>{_e(c['id'])}</strong> "
                    f"{_e(c['title'])}"
                    f"<small>{_e(counts)}</small></summary><div class='body'>"
                    f"<p class='muted'>Policies: {_codes(c['policies'])}</p>"
                    f"{_evidence_rows(report, c)}</div></details>"
                )
            parts.append("</section>")
        parts.append("</section>")
    parts.append("</section>")
    return "\n".join(parts)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _inventory(report: dict[str, Any]) -> str:
    inv = report["inventory"]
    parts = [
        '<section id="inventory"><h2>Inventory</h2><h3>Keys: who can do what (blast radius)</h3>'
    ]
    for key in inv["keys"]:
        parts.append(
            f"<h4><code>{_e(key['key'])}</code> {_e(', '.join(key['aliases']))} "
            f"<span class='muted'>{_e(key['usage'])} / {_e(key['spec'])}, rotation "
            f"{_e(key['rotation'])}, deletion window {key['deletion_window_days']:g} days"
            "</span></h4>"
        )
        rows = [
            [
                _e(g["principal"]),
                _e(", ".join(g["capabilities"])),
                _e("; ".join(f"{k} {v}" for k, v in g.get("conditions", {}).items()) or "—"),
                _e(g.get("statement", "")),
            ]
            for g in key["grants"]
        ]
        parts.append(_table(["Principal", "Can", "Conditions", "Statement"], rows))
        protects = ", ".join(f"<code>{_e(p['resource'])}</code>" for p in key["protects"]) or "—"
        parts.append(f"<p>Encrypts or is used by: {protects}</p>")
    parts.append("<h3>Buckets</h3>")
    parts.append(
        _table(
            [
                "Bucket",
                "Encryption",
                "Key",
                "Versioning",
                "Public access blocked",
                "Access logs to",
                "Object lock",
            ],
            [
                [
                    f"<code>{_e(b['bucket'])}</code>",
                    _e(b["encryption"]),
                    _e(b["kms_key"] or "—"),
                    _e(b["versioning"]),
                    _e(b["public_access_blocked"]),
                    _e(b["access_logs_to"] or "—"),
                    _e(value_text(b["object_lock"]) if b["object_lock"] else "—"),
                ]
                for b in inv["buckets"]
            ],
        )
    )
    parts.append("<h3>Roles</h3>")
    rows = []
    for r in inv["roles"]:
        trusted = "<br>".join(
            _e(f"{t['principal']} {value_text(t['conditions'], 200) if t['conditions'] else ''}")
            for t in r["trusted_by"]
        )
        perms = "<br>".join(
            _e(f"{p['statement']}: {', '.join(p['actions'])} on {value_text(p['resources'], 160)}")
            for p in r["permissions"]
        )
        rows.append([f"<code>{_e(r['role'])}</code>", trusted, perms or "—"])
    parts.append(_table(["Role", "Trusted by", "Permissions"], rows))
    parts.append("<h3>Who can do what (release powers)</h3>")
    parts.append(
        _table(
            ["Role", "Assumed by", "Pull request can assume", "Powers"],
            [
                [
                    f"<code>{_e(r['role'])}</code>",
                    "<br>".join(_e(a) for a in r["assumed_by"]) or "—",
                    _e(r["pull_request_subject"] or "no"),
                    _e(", ".join(r["powers"]) or "—"),
                ]
                for r in inv["who_can_do_what"]
            ],
        )
    )
    parts.append("<h3>Endpoints</h3>")
    rows = [
        [
            f"<code>{_e(e['endpoint'])}</code>",
            _e(", ".join(f"{k}: {value_text(v)}" for k, v in e.items() if k != "endpoint")),
        ]
        for e in inv["endpoints"]
    ] or [["—", "none declared"]]
    parts.append(_table(["Endpoint", "Details"], rows))
    parts.append("<h3>Registries and other resources</h3>")
    rows = [
        [
            f"<code>{_e(r['repository'])}</code>",
            _e(f"tags {r['tags']}, scan on push {r['scan_on_push']}"),
        ]
        for r in inv["repositories"]
    ]
    rows += [[f"<code>{_e(o['resource'])}</code>", _e(o["type"])] for o in inv["other"]]
    parts.append(_table(["Resource", "Details"], rows))
    parts.append("</section>")
    return "\n".join(parts)


def _waivers(report: dict[str, Any]) -> str:
    rows = [
        [
            f"<code>{_e(w['policy'])}</code>",
            f"<code>{_e(w['resource'])}</code>",
            _e(w["owner"]),
            (
                f"<strong class='msg'>expired {_e(w['expiry'])}</strong>"
                if w["expired"]
                else _e(w["expiry"])
            ),
            "yes" if w["used"] else "no",
            _e(w["justification"]),
        ]
        for w in report["waivers"]
    ]
    body = (
        _table(["Policy", "Resource", "Owner", "Expiry", "Used", "Justification"], rows)
        if rows
        else ("<p>No waiver applies to this stack.</p>")
    )
    return f'<section id="waivers"><h2>Waivers</h2>{body}</section>'


def _lint(report: dict[str, Any]) -> str:
    rows = [
        [
            f"<code>{_e(f['resource'])}</code>",
            _e(f["input"]),
            _e(f["issue"]),
            _e(f["severity"]),
            _e(f["statement"] or "—"),
            _e(value_text(f["detail"], 300)),
        ]
        for f in report["iam_lint"]
    ]
    body = (
        _table(["Resource", "Input", "Issue", "Severity", "Statement", "Detail"], rows)
        if rows
        else "<p>Every policy document in the stack lints clean under parliament.</p>"
    )
    return f'<section id="iam-lint"><h2>IAM policy lint (parliament)</h2>{body}</section>'


def _policies(report: dict[str, Any]) -> str:
    rows = [
        [
            f"<code>{_e(p['name'])}</code>",
            _e(p["description"]),
            _e(p["enforcement"]),
            _e(p["severity"]),
            _e(", ".join(p["controls"])),
            _badge(p["status"]),
        ]
        for p in report["policies"]
    ]
    table = _table(["Policy", "Checks", "Level", "Severity", "Controls", "Status"], rows)
    return f'<section id="policies"><h2>Policies</h2>{table}</section>'


def render_html(report: dict[str, Any]) -> str:
    status = report["summary"]["status"].upper()
    pack = report["pack"]
    title = f"Compliance audit: stack {report['stack']} — {status}"
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>{_e(title)}</title><style>{CSS}</style></head>",
            '<body data-ready="0"><header>',
            f"<h1>{_e(title)}</h1>",
            f"<p class='muted'>Generated {_e(report['generated_at'])} by policy pack "
            f"<code>{_e(pack['name'])}</code> {_e(pack['version'])} ({pack['policies']} policies). "
            f"Audited: {_e(source_text(report))}. "
            "Evidence values are the exact inputs each rule read.</p>",
            "".join(
                f"<p class='muted'>{_e(note)}</p>"
                for note in (report.get("source") or {}).get("notes", [])
            ),
            "</header><main>",
            _summary(report),
            _filters(report),
            _controls(report),
            _inventory(report),
            retention.html_section(report["retention"]) if "retention" in report else "",
            _waivers(report),
            _lint(report),
            _policies(report),
            f"</main><script>{SCRIPT}</script></body></html>",
        ]
    )
