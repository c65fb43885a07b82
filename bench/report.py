"""Output: the terminal table, the JSON file of raw results, the PNG plot,
and the progress bar."""

from __future__ import annotations

import json
import os
import platform
import sys
import time

from bench import peers
from bench.suite import SETTINGS

SHORT = {
    "websockets_fast": "websockets_fast",
    "websockets": "websockets",
    "picows.websockets": "picows.websockets",
    "picows": "picows (core)",
    "aiohttp": "aiohttp",
    "raw TCP": "raw TCP (no WebSocket)",
    "websockets_fast.legacy": "websockets_fast.legacy",
    "websockets.legacy": "websockets.legacy",
}

COLORS = {
    "websockets_fast": "#d62728",
    "websockets": "#1f77b4",
    "picows.websockets": "#2ca02c",
    "picows": "#98df8a",
    "aiohttp": "#ff7f0e",
    "raw TCP": "#7f7f7f",
    "websockets_fast.legacy": "#e377c2",
    "websockets.legacy": "#17becf",
}


# --------------------------------------------------------------------------
# Progress


class Progress:
    """A one-line progress bar on stderr (one line per 10 % when not a tty)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.monotonic()
        self.last_decile = -1

    def __call__(self, done: int, total: int, text: str) -> None:
        fraction = done / total if total else 1.0
        elapsed = time.monotonic() - self.started
        if self.tty:
            width = 30
            filled = int(width * fraction)
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r[{bar}] {done}/{total} {elapsed:5.0f}s {text}"[:120]
            self.stream.write(line.ljust(120))
            if done >= total:
                self.stream.write("\n")
        else:
            decile = int(fraction * 10)
            if decile != self.last_decile:
                self.last_decile = decile
                self.stream.write(f"progress {100 * fraction:3.0f}% ({done}/{total}) {elapsed:.0f}s {text}\n")
        self.stream.flush()


# --------------------------------------------------------------------------
# Metadata


def versions(libraries) -> dict:
    found = {}
    for lib in libraries:
        try:
            found[lib] = peers.library_version(lib)
        except Exception as exc:  # reported, not fatal: its rows say n/a
            found[lib] = f"unavailable ({type(exc).__name__}: {exc})"
    try:
        import uvloop

        found["uvloop"] = uvloop.__version__
    except ImportError:
        found["uvloop"] = "unavailable"
    return found


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    info["processor"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def settings_line() -> str:
    return (
        f"settings (equal for all): max_size={SETTINGS['max_size']} B, keepalive off, "
        f"compression off unless the row says deflate, listen backlog={SETTINGS['backlog']}, "
        f"host {peers.HOST}"
    )


# --------------------------------------------------------------------------
# Table


def _fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(value, reference) -> str:
    if value is None or not reference:
        return "-"
    return f"{value / reference:.2f}"


def _who(row) -> str:
    if row["client"] == row["server"]:
        return SHORT[row["client"]]
    return f"ours -> {SHORT[row['server']]} srv"


def _references(rows) -> dict:
    """(label, loop, library) -> median metrics of that library's own pair."""
    refs = {}
    for row in rows:
        if row["client"] == row["server"] and row["median"]:
            refs[(row["label"], row["loop"], row["client"])] = row["median"]
    return refs


COLUMNS = {
    # workload: [(title, metric, digits, ratio?)]
    "echo": [("msg/s", "rate", 0, True), ("CPU us/msg", "cpu_us", 1, True), ("client+server us", None, 0, False)],
    "pipelined": [("msg/s", "rate", 0, True), ("CPU us/msg", "cpu_us", 1, True), ("client+server us", None, 0, False)],
    "handshake": [("conn/s", "rate", 0, True), ("CPU us/conn", "cpu_us", 0, True), ("client+server us", None, 0, False)],
    "broadcast": [("delivery ms", "delivery_ms", 1, True), ("server CPU ms", "server_cpu_ms", 1, True)],
    "memory": [("RSS KiB/conn", "rss_kib", 1, True), ("traced KiB/conn", "traced_kib", 1, True)],
}

SECTION_TITLES = {
    "echo": "Echo round trips, one connection (msg/s higher is better; CPU lower is better)",
    "pipelined": "Pipelined throughput, one connection",
    "handshake": "Handshake rate (open phase timed; CPU covers open + close)",
    "broadcast": "Broadcast: one message to every connection (lower is better)",
    "memory": "Memory per idle connection, after one message each (lower is better)",
}


def table(rows) -> str:
    """The terminal table: one section per workload, ratios vs the references."""
    refs = _references(rows)
    lines = []
    for workload in ("echo", "pipelined", "handshake", "broadcast", "memory"):
        section = [r for r in rows if r["workload"] == workload]
        if not section:
            continue
        columns = COLUMNS[workload]
        lines.append("")
        lines.append(SECTION_TITLES[workload])
        header = f"{'workload':<34} {'loop':<7} {'library':<30}"
        for title, metric, _, ratio in columns:
            header += f" {title:>13}"
            if ratio:
                header += f" {'/ws':>5} {'/pws':>5}"
        lines.append(header)
        lines.append("-" * len(header))
        previous = None
        for row in section:
            group = (row["label"], row["loop"])
            label = f"{row['label']:<34} {row['loop']:<7}" if group != previous else " " * 42
            previous = group
            line = f"{label} {_who(row):<30}"
            median = row["median"]
            if median is None:
                lines.append(f"{line} n/a: {row['error'][:100]}")
                continue
            for title, metric, digits, ratio in columns:
                if metric is None:
                    text = f"{median['client_cpu_us']:.0f}+{median['server_cpu_us']:.0f}"
                    line += f" {text:>13}"
                    continue
                line += f" {_fmt(median.get(metric), digits):>13}"
                if ratio:
                    for ref in peers.REFERENCES:
                        if ref == "websockets" and row["client"].endswith(".legacy"):
                            # Legacy rows compare with websockets' legacy implementation.
                            ref = "websockets.legacy"
                        ref_median = refs.get((row["label"], row["loop"], ref))
                        line += f" {_ratio(median.get(metric), ref_median and ref_median.get(metric)):>5}"
            if row.get("note"):
                line += f"  ({row['note'][:60]})"
            lines.append(line)
    lines.append("")
    lines.append("/ws and /pws: the figure divided by websockets' and by picows.websockets' figure for the same row")
    lines.append("(/ws of a legacy row: divided by websockets.legacy's figure).")
    lines.append("'ours -> X srv': the websockets_fast client against X's server.")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# JSON


def write_json(path, rows, meta) -> None:
    with open(path, "w") as out:
        json.dump({"meta": meta, "rows": rows}, out, indent=1, default=str)


# --------------------------------------------------------------------------
# Plot


def _bars(ax, groups, libs, value_of, log=False, fmt=None):
    """Grouped bars: one group per entry of ``groups``, one bar per library.

    ``value_of(group, lib)`` returns a number, None for n/a, or ... for a
    workload the library does not support.
    """
    width = 0.8 / max(1, len(libs))
    for i, lib in enumerate(libs):
        xs, ys = [], []
        for j, group in enumerate(groups):
            x = j + (i - (len(libs) - 1) / 2) * width
            value = value_of(group, lib)
            if value is ... and lib in peers.ECHO_ONLY:
                continue  # a reference, not run here: nothing to say
            if value is None or value is ...:
                ax.text(x, 0.02, "n/a" if value is None else "unsupported", rotation=90, ha="center",
                        va="bottom", fontsize=7, color="#444444", transform=ax.get_xaxis_transform())
                continue
            xs.append(x)
            ys.append(value)
        bars = ax.bar(xs, ys, width, label=SHORT[lib], color=COLORS[lib])
        for bar, y in zip(bars, ys):
            text = fmt(y) if fmt else (f"{y:,.0f}" if y >= 100 else f"{y:.1f}")
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center",
                        va="bottom", fontsize=6, rotation=90, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(groups)))
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)
    ax.margins(y=0.25)


def write_plot(path, rows, meta) -> bool:
    """Grouped bars: msg/s and CPU per workload, KiB per idle connection,
    and (full suite) handshakes and broadcast.

    Returns False when matplotlib is not installed.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False

    own = [r for r in rows if r["client"] == r["server"]]
    libs = [lib for lib in peers.LIBRARIES if any(r["client"] == lib for r in own)]
    loops = list(dict.fromkeys(r["loop"] for r in own))
    # The panels of workloads that only WebSocket libraries run.
    websocket_libs = [lib for lib in libs if lib not in peers.ECHO_ONLY]
    if not own:
        return False

    def lookup(workload, loop):
        index = {(r["label"], r["client"]): r for r in own if r["workload"] in workload and r["loop"] == loop}
        labels = list(dict.fromkeys(label for label, _ in index))
        return index, labels

    def value_getter(index, metric):
        def value_of(label, lib):
            row = index.get((label, lib))
            if row is None:
                return ...
            return row["median"][metric] if row["median"] else None
        return value_of

    layout = [[f"rate {loop}"] * 2 for loop in loops if lookup(("echo", "pipelined"), loop)[1]]
    layout += [[f"cpu {loops[0]}"] * 2]
    memory_loop = next((r["loop"] for r in own if r["workload"] == "memory"), None)
    if memory_loop:
        layout.append(["memory"] * 2)
    extra_loop = next((r["loop"] for r in own if r["workload"] in ("handshake", "broadcast")), None)
    if extra_loop:
        layout.append(["handshake", "broadcast"])
    fig, axes = plt.subplot_mosaic(layout, figsize=(max(12, 1.3 * len(libs) * 3), 3.8 * len(layout)))

    for loop in loops:
        index, labels = lookup(("echo", "pipelined"), loop)
        if f"rate {loop}" in axes:
            ax = axes[f"rate {loop}"]
            _bars(ax, labels, libs, value_getter(index, "rate"), log=True)
            ax.set_xticklabels([label.replace(", ", "\n") for label in labels], fontsize=8)
            ax.set_title(f"messages/s, one connection (higher is better) - {loop}", fontsize=10)
        if f"cpu {loop}" in axes:
            ax = axes[f"cpu {loop}"]
            _bars(ax, labels, libs, value_getter(index, "cpu_us"), log=True)
            ax.set_xticklabels([label.replace(", ", "\n") for label in labels], fontsize=8)
            ax.set_title(f"CPU µs per message, client + server processes (lower is better) - {loop}", fontsize=10)

    if memory_loop:
        index, labels = lookup(("memory",), memory_loop)
        groups = [(label, metric) for label in labels for metric in ("traced_kib", "rss_kib")]

        def memory_value(group, lib):
            row = index.get((group[0], lib))
            if row is None:
                return ...
            return row["median"][group[1]] if row["median"] else None

        ax = axes["memory"]
        _bars(ax, groups, websocket_libs, memory_value)
        names = {"traced_kib": "tracemalloc", "rss_kib": "RSS"}
        ax.set_xticklabels([f"{label.split(', ', 1)[1].replace(', ', ' ')}\n{names[metric]}"
                            for label, metric in groups], fontsize=8)
        ax.set_title(f"KiB per idle connection on the server, after one message each (lower is better) - {memory_loop}",
                     fontsize=10)

    if extra_loop:
        for name, workload, metric, title in (
            ("handshake", "handshake", "rate", "connections opened/s, 100 concurrent (higher is better)"),
            ("broadcast", "broadcast", "delivery_ms", "broadcast: ms until every connection has it (lower is better)"),
        ):
            index, labels = lookup((workload,), extra_loop)
            ax = axes[name]
            _bars(ax, labels, websocket_libs, value_getter(index, metric))
            ax.set_xticklabels(labels, fontsize=8)
            ax.set_title(f"{title} - {extra_loop}", fontsize=9)

    first = axes[layout[0][0]]
    first.legend(ncol=len(libs), fontsize=8, loc="upper left")
    versions_text = ", ".join(
        f"{k} {v}" if k == "websockets_fast" else f"{k} {v.split(' (')[0]}"
        for k, v in meta["versions"].items() if not v.startswith("unavailable")
    )
    m = meta["machine"]
    fig.suptitle(f"websockets_fast side by side ({meta['mode']} suite, median of {meta['reps']}) - "
                 f"{m['processor']}, {m['cpus']} CPUs, {m['python']}\n{versions_text}", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
