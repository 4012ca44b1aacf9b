"""report.html: one self-contained file, readable offline, plots inlined as SVG.

The HTML is report.md rendered with markdown-it (so the two never disagree),
with every ``plots/X.svg`` image replaced by the SVG itself, its indentation
and the line breaks inside path data dropped (the drawing is the same; the page
about a tenth smaller).
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

STYLE = """
body { font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #1f2328; line-height: 1.45; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 1px solid #d0d7de; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .82rem; display: block;
        overflow-x: auto; }
th, td { border: 1px solid #d0d7de; padding: .25rem .5rem; text-align: left; }
th { background: #f6f8fa; } tr:nth-child(even) td { background: #fbfbfc; }
code { background: #f6f8fa; padding: .1rem .3rem; border-radius: 4px; font-size: .85em; }
blockquote { border-left: 4px solid #d29922; margin: 0; padding: .2rem 1rem;
             background: #fff8e6; }
figure.plot { margin: 1rem 0; } figure.plot svg { max-width: 100%; height: auto; }
"""

_IMG = re.compile(r'<img src="plots/(?P<name>[\w-]+)\.svg" alt="(?P<alt>[^"]*)"\s*/?>')
_PROLOG = re.compile(r"^.*?(?=<svg)", re.S)
_PATH_DATA = re.compile(r' d="([^"]*)"')
_INDENT = re.compile(r">\n[ \t]+<")


def compact_svg(svg: str) -> str:
    """``svg`` without the indentation between its tags and with each path's data on
    one line: whitespace that changes nothing in the drawing."""
    svg = _PATH_DATA.sub(lambda m: ' d="' + " ".join(m.group(1).split()) + '"', svg)
    return _INDENT.sub(">\n<", svg)


def render(markdown_text: str, plots: dict[str, bytes], title: str) -> str:
    """The HTML document for ``markdown_text`` with ``plots`` (name -> SVG) inlined."""
    body = MarkdownIt("commonmark").enable("table").render(markdown_text)

    def inline(match: re.Match[str]) -> str:
        svg = plots.get(match.group("name"))
        if svg is None:
            return f"<em>[plot {html.escape(match.group('name'))} missing]</em>"
        text = compact_svg(_PROLOG.sub("", svg.decode("utf-8"), count=1))
        label = html.escape(match.group("alt"))
        return f'<figure class="plot" role="img" aria-label="{label}">{text}</figure>'

    body = _IMG.sub(inline, body)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}</body>\n</html>\n"
    )
