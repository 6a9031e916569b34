"""Checks shared by the report tests: schema validation, the HTML in a real browser, the screenshot."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from base64 import b64decode
from pathlib import Path

import jsonschema
import numpy as np
from PIL import Image

from taoke.report import Report, schema, validate, write_report
from taoke.serialize import dumps

# kept outside the tree so a person can look at them after the run
SHOTS = Path(os.environ.get("TAOKE_SHOTS") or Path(tempfile.gettempdir()) / "taoke-report-shots")


def check_json(rep: Report, tmp: Path) -> dict:
    p = write_report(rep, tmp / "r.json")
    doc = json.loads(p.read_text())
    jsonschema.validate(doc, schema())
    validate(doc)
    assert Report.from_dict(doc).to_dict() == json.loads(dumps(rep.to_dict()))  # round trip
    return doc


def check_in_browser(rep: Report, chromium, name: str, tmp: Path) -> str:  # type: ignore[no-untyped-def]
    """Render ``rep`` to HTML, load it in Chromium, check the DOM and console, return the DOM."""
    html = write_report(rep, tmp / f"{name}.html")
    text = html.read_text()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', text)  # no network resource
    assert "<script" not in text and "<link" not in text  # self-contained: no script, no external resource
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = chromium.load(html, SHOTS / f"{name}.png")
    dom = page.dom
    assert 'id="verdict"' in dom and rep.sentence[:60] in html_lib.unescape(dom)
    imgs = re.findall(r'<img alt="[^"]*" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', dom)
    assert len(imgs) == len(rep.plots), (len(imgs), [p.kind for p in rep.plots])
    for b in imgs:  # every figure is a well-formed SVG with a size
        root = ET.fromstring(b64decode(b))
        assert root.tag.endswith("svg") and root.get("width") and root.get("height")
    errors = [ln for ln in page.log.splitlines() if "CONSOLE" in ln or "Refused to" in ln or "Uncaught" in ln]
    assert not errors, errors
    # the screenshot is not blank: the figures and tables put ink on the page
    a = np.asarray(Image.open(page.screenshot).convert("L"))
    assert (a < 200).mean() > 0.02
    return dom
