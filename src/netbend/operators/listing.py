"""The operator registry as text: the ``netbend ops`` listing and one operator's card."""

from __future__ import annotations

from ..parsing import format_number
from .registry import OperatorSpec, names, spec


def _fmt_param(s: OperatorSpec) -> str:
    if s.param_shape is None:
        return "-"
    return "scalar" if s.param_shape == () else "x".join(map(str, s.param_shape))


def _fmt_range(s: OperatorSpec) -> str:
    return "-" if s.default_range is None else f"{format_number(s.default_range[0])}..{format_number(s.default_range[1])}"


def describe(name: str | None = None) -> str:
    """The registry as a text table, or one entry with its options."""
    if name is None:
        rows = [("name", "family", "r", "range", "description")]
        rows += [(s.name, s.family, _fmt_param(s), _fmt_range(s), s.description) for s in map(spec, names())]
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths) + "  " + "-" * 11)
        lines.append("\nchain operators with '|', set options with ':' (e.g. 'add_slice:axis=row,index=32 | normalize_max');"
                     "\npoint-wise operators also take region=AXIS:I[:STOP] and fraction=F; any driven operator takes r=V to fix it.")
        return "\n".join(lines)
    s = spec(name)
    opts = s.options
    lines = [
        f"{s.name}: {s.description}",
        f"  family      {s.family}",
        f"  parameter   {_fmt_param(s)}" + ("" if s.param_shape is None else " (r, driven by audio)"),
        f"  range       {_fmt_range(s)}" + (f" (the paper's: {format_number(s.paper_range[0])}..{format_number(s.paper_range[1])},"
                                               " which reaches a value where the operator is undefined)"
                                               if s.paper_range else ""),
        f"  identity    {'-' if s.identity is None else s.identity}",
        f"  random      {'yes (seeded per frame)' if s.random else 'no'}",
        f"  channels    {'any' if s.channels is None else f'{s.channels} (the latent; at a network site, a group of 4 chosen with --channels)'}",
        "  options     " + (", ".join(f"{k}={v}" for k, v in opts.items()) if opts else "none"),
    ]
    return "\n".join(lines)
