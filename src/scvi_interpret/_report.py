"""A self-contained HTML report: sections of text, tables and matplotlib figures."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { border-bottom: 2px solid #2e6da4; padding-bottom: .2em; }
h2 { margin-top: 2em; color: #2e6da4; }
table { border-collapse: collapse; font-size: .85em; margin: .8em 0; }
th, td { border: 1px solid #ccc; padding: .25em .55em; text-align: right; }
th { background: #f0f4f8; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; }
figcaption { font-size: .85em; color: #555; }
nav a { margin-right: 1em; } .note { color: #555; font-size: .9em; }
"""


@dataclass
class HtmlReport:
    """Collects sections and writes one HTML file with the figures embedded as PNG.

    Parameters
    ----------
    title
        Page title.
    """

    title: str
    _sections: list[tuple[str, list[str]]] = field(default_factory=list)

    def section(self, heading: str) -> None:
        """Start a new section; the following items go into it."""
        self._sections.append((heading, []))

    def text(self, paragraph: str) -> None:
        """A paragraph (plain text, escaped)."""
        self._items.append(f"<p>{html.escape(paragraph)}</p>")

    def table(self, frame: pd.DataFrame, caption: str = "", float_format: str = "{:.3f}") -> None:
        """A DataFrame as an HTML table, numbers formatted with ``float_format``."""
        body = frame.to_html(float_format=float_format.format, border=0, escape=True)
        note = f'<p class="note">{html.escape(caption)}</p>' if caption else ""
        self._items.append(body + note)

    def figure(self, fig: Figure, caption: str = "", dpi: int = 110) -> None:
        """A matplotlib figure, embedded as a base64 PNG, then closed."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        self._items.append(
            f'<figure><img src="data:image/png;base64,{encoded}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )

    @property
    def _items(self) -> list[str]:
        if not self._sections:
            self.section("")
        return self._sections[-1][1]

    def write(self, path: str | Path) -> Path:
        """Write the report; returns the path."""
        anchors = [f"s{i}" for i in range(len(self._sections))]
        nav = " ".join(
            f'<a href="#{a}">{html.escape(h)}</a>'
            for a, (h, _) in zip(anchors, self._sections, strict=True)
            if h
        )
        parts = [
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}"
            f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>",
            f"<nav>{nav}</nav>",
        ]
        for anchor, (heading, items) in zip(anchors, self._sections, strict=True):
            if heading:
                parts.append(f'<h2 id="{anchor}">{html.escape(heading)}</h2>')
            parts.extend(items)
        parts.append("</body></html>")
        path = Path(path)
        path.write_text("\n".join(parts), encoding="utf-8")
        return path
