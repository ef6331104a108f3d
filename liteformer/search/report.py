"""The budget search's report: every trial (shape, augmentation, dev accuracy at each rung, what
became of it), the probe of each shape's size and speed, a plot of dev quality vs speed with the chosen
trial marked, and — when time ran out or nothing met the budget — what the search would try next.
Written as ``WORK/report/search.md``, ``.html``, ``.json`` and ``search.png``."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from liteformer.fileio import write_json, write_text
from liteformer.search.halving import SearchState


def trial_rows(meta: dict, state: SearchState) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the trials table."""
    rungs = meta.get("rungs", [])
    halving = meta.get("halving", {})
    teacher = meta.get("teacher_dev") or 1.0
    chosen = chosen_trial(meta)
    header = ["trial", "shape", "MACs %", "augment", *[f"dev @{r}" for r in rungs], "% teacher", "status"]
    rows = []
    for key, t in meta.get("trials", {}).items():
        runs = state.outcomes.get(key, {})
        cells = [f"{runs[str(r)]['score']:.4f}" if str(r) in runs else "" for r in rungs]
        last = state.last(key)
        pct = f"{100 * last.score / teacher:.1f}" if last else ""
        rows.append([key, t["shape"], f"{100 * t['fraction']:.0f}", str(t["augment"]), *cells, pct,
                     _status(key, halving, last, chosen)])
    return header, rows


def _status(key: str, halving: dict, last, chosen: str | None) -> str:
    if last is None:
        if halving.get("met"):
            return "not needed (a cheaper trial met the budget)"
        return "not run (time)" if halving.get("stopped") else "not run"
    words = []
    if key == halving.get("met"):
        words.append("met the budget on dev")
    if key in halving.get("dropped", {}):
        words.append(f"dropped after rung {halving['dropped'][key] + 1}")
    if last.converged and last.note:
        words.append(last.note.split(":")[0])
    if key == chosen:
        words.append("chosen")
    return "; ".join(words) or ("stopped (time)" if halving.get("stopped") else "kept to the last rung")


def chosen_trial(meta: dict) -> str | None:
    name = (meta.get("finals") or {}).get("chosen")
    return name.split(" ")[0] if name else None


def next_steps(meta: dict, state: SearchState) -> list[str]:
    """What the search would try next, in words (empty when a trial met the budget)."""
    halving, out = meta.get("halving", {}), []
    if halving.get("met") and (meta.get("finals") or {}).get("chosen"):
        return out
    if halving.get("stopped") == "time":
        runs = ", ".join(f"{k} to {s} steps" for k, s in halving.get("next_runs", [])[:4])
        out.append(f"The time budget ran out; next it would run {runs}. Run the search again (with more "
                   "--max-minutes) to continue from there.")
    ranking = halving.get("ranking", [])
    bar, teacher = meta.get("bar"), meta.get("teacher_dev") or 1.0
    if ranking and bar is not None:
        best = ranking[0]
        runs = state.outcomes.get(best, {})
        scores = [runs[k]["score"] for k in sorted(runs, key=int)]
        gap = 100 * (bar - scores[-1]) / teacher
        if gap > 0:
            rising = len(scores) > 1 and scores[-1] > scores[-2] + 1e-9
            trend = (f"its dev accuracy was still rising (+{100 * (scores[-1] - scores[-2]):.2f} points over its "
                     "last rung): a higher --max-steps may close it" if rising else
                     "it had stopped improving: more steps will not close it")
            out.append(f"The best trial, {best}, reached {100 * scores[-1] / teacher:.1f} % of the teacher on dev, "
                       f"{gap:.1f} points short of the bar; {trend}.")
    probe = meta.get("probe", {})
    missed = sorted({n.split(" ")[0] for n, r in probe.items() if r.get("missed")} -
                    {t["shape"] for t in meta.get("trials", {}).values()})
    if missed and ranking:
        out.append(f"Larger shapes ({', '.join(missed)}) miss the size or speed terms in the probe; beyond more steps, "
                   "what is left is the budget itself (accept a lower speed-up or size ratio) or more augmented data.")
    return out


def plot(meta: dict, state: SearchState, path: Path) -> None:
    """Dev accuracy (% of the teacher) vs the probe's speed-up of each trial's shape; the chosen one starred."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    teacher, probe = meta.get("teacher_dev") or 1.0, meta.get("probe", {})
    chosen = chosen_trial(meta)
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=120)
    for key, t in meta.get("trials", {}).items():
        last = state.last(key)
        speed = next((r["x_faster"] for n, r in probe.items() if n.split(" ")[0] == t["shape"] and r.get("x_faster")),
                     None)
        if last is None or speed is None:
            continue
        y = 100 * last.score / teacher
        ax.scatter(speed, y, s=40 + 30 * t["augment"], alpha=0.7, marker="*" if key == chosen else "o",
                   color="tab:red" if key == chosen else "tab:blue")
        ax.annotate(key, (speed, y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    if meta.get("bar") is not None:
        ax.axhline(100 * meta["bar"] / teacher, color="tab:green", lw=1, ls="--", label="the budget's bar")
        ax.legend(fontsize=8, frameon=False)
    ax.set_xlabel("speed-up over the teacher (probe: untrained int8 bundle, dev)")
    ax.set_ylabel("dev accuracy, % of the teacher")
    ax.set_title("budget search: every trial (marker size = augmentation; star = chosen)", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def to_markdown(meta: dict, state: SearchState, bench_md: str | None) -> str:
    header, rows = trial_rows(meta, state)
    lines = ["# liteformer budget search", "",
             f"teacher dev accuracy {meta.get('teacher_dev', 0):.4f}; "
             + (f"bar {meta['bar']:.4f}" if meta.get("bar") is not None else "no quality bar")
             + f"; rungs {meta.get('rungs')} steps; search time {meta.get('seconds', 0) / 60:.1f} min", "",
             "## Trials", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "## Probe (untrained bundles, dev, one repetition)", "",
              "| shape quantization | MB | x smaller | x faster | misses |", "|---|---|---|---|---|"]
    for name, r in meta.get("probe", {}).items():
        if r.get("ok"):
            lines.append(f"| {name} | {r['size_mb']:.2f} | {r['x_smaller']:.1f} | {r['x_faster']:.1f} | "
                         f"{', '.join(r.get('missed') or []) or '-'} |")
        else:
            lines.append(f"| {name} | | | | failed: {r.get('error')} |")
    finals = meta.get("finals") or {}
    reason = f" — {finals['reason']}" if finals.get("reason") else ""
    lines += ["", "## Result", "", f"chosen: {finals.get('chosen') or 'none'}{reason}"]
    if bench_md:
        lines += [f"(the final bench: {bench_md})"]
    nxt = next_steps(meta, state)
    if nxt:
        lines += ["", "## What next", "", *[f"- {x}" for x in nxt]]
    return "\n".join(lines) + "\n"


def write_search_report(work: Path, meta: dict, state: SearchState, res) -> dict[str, Path]:
    out = Path(work) / "report"
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "search.md", "html": out / "search.html", "json": out / "search.json",
             "png": out / "search.png"}
    plot(meta, state, paths["png"])
    md = to_markdown(meta, state, res.report.get("md"))
    write_text(paths["md"], md)
    header, rows = trial_rows(meta, state)
    write_json(paths["json"], {**meta, "outcomes": state.outcomes, "table": {"header": header, "rows": rows},
                               "next": next_steps(meta, state)})
    img = base64.b64encode(paths["png"].read_bytes()).decode()
    body = "".join(f"<p>{html.escape(line)}</p>" for line in md.splitlines() if line and not line.startswith("|"))
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows) + "</table>"
    write_text(paths["html"], f"""<!doctype html><html><head><meta charset="utf-8"><title>liteformer search</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 7px}}</style></head><body>{table}{body}
<img alt="search plot" src="data:image/png;base64,{img}"></body></html>
""")
    return paths
