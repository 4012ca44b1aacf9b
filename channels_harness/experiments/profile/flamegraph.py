"""A flame graph of sampled stacks as a self-contained SVG.

Root at the top (one tower per thread), callees below their callers, each
box as wide as the samples that passed through it; a box's colour is the
group its own frame belongs to (:func:`~.groups.classify`: the same colours
as the report's profile chart), light grey for a neutral helper, dark grey
for a frame no rule knows. Hovering a box shows its function, module,
samples and share. Boxes narrower than half a pixel are left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from channels_harness.experiments.profile.groups import NEUTRAL, classify
from channels_harness.experiments.profile.stacks import Frame, Sample
from channels_harness.report.plots import PROFILE_COLOURS

WIDTH = 1200.0
ROW = 16
NEUTRAL_COLOUR = "#dddddd"
UNKNOWN_COLOUR = "#9e9e9e"
THREAD_COLOUR = "#f2f2f2"


@dataclass
class Node:
    """One box: a frame (or a thread at the top) and what it called."""

    label: str
    colour: str
    count: int = 0
    children: dict[str, Node] = field(default_factory=dict)

    def child(self, label: str, colour: str) -> Node:
        """The child box called ``label``, made on first use."""
        if label not in self.children:
            self.children[label] = Node(label, colour)
        return self.children[label]


def frame_colour(frame: Frame, group_of: Callable[[Frame], str | None] = classify) -> str:
    """The colour of ``frame``'s box: its group's, or grey for neutral and unknown frames."""
    group = group_of(frame)
    if group is None:
        return UNKNOWN_COLOUR
    if group == NEUTRAL:
        return NEUTRAL_COLOUR
    return PROFILE_COLOURS.get(group, UNKNOWN_COLOUR)


def build_tree(samples: Iterable[Sample]) -> Node:
    """The call tree of ``samples``: root, then one node per thread, then frames."""
    root = Node("all", THREAD_COLOUR)
    for sample in samples:
        root.count += sample.count
        node = root.child(f"pid {sample.pid} thread {sample.thread}", THREAD_COLOUR)
        node.count += sample.count
        for frame in sample.frames:
            node = node.child(frame.label, frame_colour(frame))
            node.count += sample.count
    return root


def _box(node: Node, x: float, y: float, width: float, total: int) -> str:
    share = node.count / total if total else 0.0
    tip = f"{node.label}: {node.count} samples ({share:.1%})"
    chars = int(width / 6.6)
    text = node.label if len(node.label) <= chars else node.label[: max(0, chars - 2)] + ".."
    label = f'<text x="{x + 3:.1f}" y="{y + 12:.0f}">{escape(text)}</text>' if chars >= 4 else ""
    return (
        f"<g><title>{escape(tip)}</title>"
        f'<rect x="{x:.1f}" y="{y:.0f}" width="{width:.1f}" height="{ROW - 1}" '
        f'fill="{node.colour}" rx="2"/>{label}</g>'
    )


def _boxes(root: Node, top: float) -> tuple[list[str], int]:
    """Every box wider than half a pixel (the root's row at ``top``), and the depth reached."""
    total = root.count or 1
    out: list[str] = []
    deepest = 0
    stack: list[tuple[Node, float, int]] = [(root, 0.0, 0)]
    while stack:
        node, x, depth = stack.pop()
        width = WIDTH * node.count / total
        if width < 0.5:
            continue
        out.append(_box(node, x, top + depth * ROW, width, total))
        deepest = max(deepest, depth)
        offset = x
        for child in sorted(node.children.values(), key=lambda n: n.label):
            stack.append((child, offset, depth + 1))
            offset += WIDTH * child.count / total
    return out, deepest


def _legend() -> tuple[str, float]:
    """The colour key, wrapped over as many lines as it needs, and its bottom edge."""
    items = [*PROFILE_COLOURS.items(), ("neutral helper", NEUTRAL_COLOUR)]
    items.append(("unknown frame", UNKNOWN_COLOUR))
    parts, x, y = [], 0.0, 22.0
    for name, colour in items:
        width = 20 + 7.0 * len(name)
        if x + width > WIDTH:
            x, y = 0.0, y + 15
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 13:.0f}" y="{y + 9:.0f}">{escape(name)}</text>'
        )
        x += width
    return "".join(parts), y + 18


def render(samples: Iterable[Sample], title: str) -> str:
    """The SVG text of the flame graph of ``samples``, headed by ``title``."""
    legend, top = _legend()
    boxes, deepest = _boxes(build_tree(samples), top)
    height = top + (deepest + 1) * ROW + 4
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH:.0f} {height:.0f}" font-family="Verdana, sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>'
        f'<text x="0" y="14" font-size="13" font-weight="bold">{escape(title)}</text>'
        f"{legend}{''.join(boxes)}</svg>\n"
    )
