"""Bench reports: terminal table, JSON, Markdown, self-contained HTML, and the Pareto plot (PNG)."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from liteformer.bench.result import LOWER_IS_BETTER, BenchResult, CandidateResult
from liteformer.fileio import atomic_path, write_json, write_text

COLUMNS = [  # (header, key, format)
    ("candidate", "name", "{}"), ("runtime", "runtime", "{}"), ("accuracy", "accuracy", "{:.4f}"),
    ("p50 ms", "latency_p50_ms", "{:.2f}"), ("mean ms", "latency_mean_ms", "{:.2f}"),
    ("p90 ms", "latency_p90_ms", "{:.2f}"), ("fixed ms", "fixed_ms", "{:.2f}"),
    ("size MB", "size_bytes", "{:.1f}"), ("params M", "parameters", "{:.2f}"),
    ("GMACs", "macs_mean_length", "{:.3f}"), ("peak MB", "peak_rss_mb", "{:.0f}"),
    ("+MB", "rss_increase_mb", "{:.0f}"), ("× smaller", "x_smaller", "{:.2f}"),
    ("× faster", "x_faster", "{:.2f}"), ("% acc", "pct_accuracy", "{:.1f}"),
    ("× roofline", "x_roofline", "{:.1f}"),
]
GENERATION_COLUMNS = [  # a translation bench: sacreBLEU as quality, whole sentences, first token, tokens/s
    ("candidate", "name", "{}"), ("runtime", "runtime", "{}"), ("BLEU", "quality", "{:.2f}"),
    ("chrF", "chrf", "{:.2f}"), ("p50 ms", "latency_p50_ms", "{:.1f}"), ("mean ms", "latency_mean_ms", "{:.1f}"),
    ("p90 ms", "latency_p90_ms", "{:.1f}"), ("1st tok ms", "first_token_ms", "{:.2f}"),
    ("tok/s", "tokens_per_s", "{:.0f}"), ("size MB", "size_bytes", "{:.1f}"), ("params M", "parameters", "{:.2f}"),
    ("GMACs", "macs_mean_length", "{:.3f}"), ("peak MB", "peak_rss_mb", "{:.0f}"),
    ("+MB", "rss_increase_mb", "{:.0f}"), ("× smaller", "x_smaller", "{:.2f}"),
    ("× faster", "x_faster", "{:.2f}"), ("% BLEU", "pct_quality", "{:.1f}"),
    ("× roofline", "x_roofline", "{:.1f}"),
]
SPEECH_COLUMNS = [  # a speech bench: WER as quality, whole clips, real-time factor
    ("candidate", "name", "{}"), ("runtime", "runtime", "{}"), ("WER %", "quality", "{:.2f}"),
    ("CER %", "cer", "{:.2f}"), ("exact", "exact", "{:.3f}"), ("p50 ms", "latency_p50_ms", "{:.2f}"),
    ("mean ms", "latency_mean_ms", "{:.2f}"), ("p90 ms", "latency_p90_ms", "{:.2f}"), ("RTF", "rtf", "{:.4f}"),
    ("size MB", "size_bytes", "{:.2f}"), ("params M", "parameters", "{:.2f}"), ("GMACs", "macs_mean_length", "{:.3f}"),
    ("peak MB", "peak_rss_mb", "{:.0f}"), ("+MB", "rss_increase_mb", "{:.0f}"), ("× smaller", "x_smaller", "{:.2f}"),
    ("× faster", "x_faster", "{:.2f}"), ("× roofline", "x_roofline", "{:.1f}"),
]
SUMMARY_COLUMNS = [  # a summarization bench: ROUGE-L (first reference) as quality, whole summaries
    ("candidate", "name", "{}"), ("runtime", "runtime", "{}"), ("ROUGE-L", "quality", "{:.2f}"),
    ("ROUGE-1", "rouge1", "{:.2f}"), ("ROUGE-2", "rouge2", "{:.2f}"), ("p50 ms", "latency_p50_ms", "{:.1f}"),
    ("mean ms", "latency_mean_ms", "{:.1f}"), ("1st tok ms", "first_token_ms", "{:.2f}"),
    ("tok/s", "tokens_per_s", "{:.0f}"), ("size MB", "size_bytes", "{:.1f}"), ("params M", "parameters", "{:.2f}"),
    ("GMACs", "macs_mean_length", "{:.3f}"), ("peak MB", "peak_rss_mb", "{:.0f}"),
    ("+MB", "rss_increase_mb", "{:.0f}"), ("× smaller", "x_smaller", "{:.2f}"),
    ("× faster", "x_faster", "{:.2f}"), ("% ROUGE-L", "pct_quality", "{:.1f}"),
]
DIALOGUE_COLUMNS = [("BLEU-2", "bleu2", "{:.2f}") if k == "rouge1" else ("dist-2", "distinct2", "{:.3f}")
                    if k == "rouge2" else (h, k, f) for h, k, f in SUMMARY_COLUMNS]  # a dialogue bench
METRIC_NAMES = {"accuracy": "accuracy", "bleu": "sacreBLEU", "wer": "WER (%)", "rougeL": "ROUGE-L"}
RUNTIME_COLOURS = {"torch": "tab:gray", "onnx": "tab:blue", "litert": "tab:green", "executorch": "tab:orange",
                   "whisper": "tab:purple"}
SCALE = {"size_bytes": 1e-6, "parameters": 1e-6, "macs_mean_length": 1e-9}


def columns(result: BenchResult) -> list[tuple[str, str, str]]:
    if result.metric == "rougeL" and any(c.scores and "bleu2" in c.scores for c in result.candidates):
        return DIALOGUE_COLUMNS
    return {"accuracy": COLUMNS, "wer": SPEECH_COLUMNS, "rougeL": SUMMARY_COLUMNS}.get(result.metric,
                                                                                      GENERATION_COLUMNS)


def _cell(c: CandidateResult, key: str, fmt: str) -> str:
    if key == "runtime":
        return c.label
    scored = ("chrf", "cer", "exact", "rouge1", "rouge2", "bleu2", "distinct2")  # from the task's report
    v = (c.scores or {}).get(key) if key in scored else getattr(c, key)
    if v is None:
        return "–"
    return fmt.format(v * SCALE.get(key, 1))


def rows(result: BenchResult) -> tuple[list[str], list[list[str]]]:
    cols = columns(result)
    header = [h for h, _, _ in cols]
    body = []
    for c in result.candidates:
        if c.ok:
            body.append([_cell(c, k, f) for _, k, f in cols])
        else:
            body.append([c.name, c.runtime, f"FAILED: {c.error}"] + [""] * (len(cols) - 3))
    return header, body


def format_table(result: BenchResult) -> str:
    header, body = rows(result)
    ok_rows = [r for r in body if not r[2].startswith("FAILED")]
    widths = [max(len(x) for x in col) for col in zip(header, *ok_rows, strict=True)]

    def line(cells: list[str]) -> str:
        cols = enumerate(zip(cells, widths, strict=True))
        return "  ".join(x.rjust(w) if i > 1 else x.ljust(w) for i, (x, w) in cols)

    out = [line(header)]
    for r in body:
        if r[2].startswith("FAILED"):
            out.append(f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}")
        else:
            out.append(line(r))
    return "\n".join(out) + "\n" + settings_line(result)


def settings_line(result: BenchResult) -> str:
    s, m = result.settings, result.machine
    n = s["timed_examples"] or "all"
    what = {"accuracy": f"latency at real length ({n} examples/rep) and fixed length {s['fixed_length']}",
            "wer": f"latency per clip: audio in, features, encoder and greedy CTC in the artifact ({n} clips/rep); "
                   "RTF = processing time / audio duration; WER/CER of the artifact's own transcripts"}.get(
        result.metric, f"latency per sentence: encode + greedy decode to the model's own output length ({n} "
                       "sentences/rep); sacreBLEU of the artifact's own outputs")
    if columns(result) is DIALOGUE_COLUMNS:
        what = (f"latency per turn: encode the context + greedy decode of the response ({n} turns/rep); ROUGE-L, "
                "BLEU-2 and distinct-2 of the artifact's own responses")
    elif result.metric == "rougeL":
        what = (f"latency per summary: encode + greedy decode with the summaries' length settings ({n} inputs/rep); "
                "ROUGE (stemmed, F, first reference) of the artifact's own summaries")
    return (f"data {s['data']} · batch 1 · {s['threads']} threads · {s['reps']} fresh-process repetitions "
            f"(interleaved), medians · {what} · baseline {result.baseline} · "
            f"{m['cpu']}, {m['cores']} cores · torch {m['torch']} · {m['date']}"
            + (f" · measured GEMM peak {m['gemm_peak_gflops']} GFLOP/s (× roofline = p50 ÷ FLOPs/peak)"
               if m.get("gemm_peak_gflops") else ""))


def pareto_front(cands: list[CandidateResult]) -> list[str]:
    """Names of candidates no other beats on both quality (higher; an error rate: lower) and latency (lower)."""
    ok = [c for c in cands if c.ok]
    sign = -1 if any(c.metric in LOWER_IS_BETTER for c in ok) else 1
    front = []
    for c in ok:
        dominated = any(sign * o.quality >= sign * c.quality and o.latency_p50_ms <= c.latency_p50_ms
                        and (sign * o.quality > sign * c.quality or o.latency_p50_ms < c.latency_p50_ms)
                        for o in ok)
        if not dominated:
            front.append(c.name)
    return front


def plot_pareto(result: BenchResult, path: str | Path) -> str:
    """Write the quality-vs-latency plot; returns the latency axis's scale ("linear" or "log")."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = result.ok()
    front = set(pareto_front(ok))
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=120)
    if ok:
        biggest = max(c.size_bytes for c in ok)
        for n, c in enumerate(ok, 1):  # numbered markers; the legend names them (labels never overlap)
            on = c.name in front
            area = 60 + 1400 * c.size_bytes / biggest
            ax.scatter(c.latency_p50_ms, c.quality, s=area, alpha=0.55,
                       color=RUNTIME_COLOURS.get(c.runtime, "tab:gray"), edgecolors="black" if on else "none",
                       linewidths=1.5,
                       label=f"{n}  {c.name}  [{c.label}, {c.size_mb:.1f} MB]")
            ax.annotate(str(n), (c.latency_p50_ms, c.quality), fontsize=8, ha="center", va="center",
                        weight="bold")
        pts = sorted((c.latency_p50_ms, c.quality) for c in ok if c.name in front)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "--", color="tab:red", lw=1, label="Pareto front")
        legend = ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, markerscale=0.3,
                           frameon=False)
        for h in legend.legend_handles:
            if hasattr(h, "set_sizes"):
                h.set_sizes([30])
        ax.margins(0.15)
        ms = [c.latency_p50_ms for c in ok]
        if max(ms) > 5 * min(ms):  # latencies spanning 5x and more: a linear axis piles the fast ones up
            ax.set_xscale("log")
    ax.set_xlabel(f"latency p50, batch 1, real length, {result.settings['threads']} threads (ms"
                  + (", log scale)" if ax.get_xscale() == "log" else ")"))
    metric = METRIC_NAMES.get(result.metric, result.metric)
    unit = "per sentence, " if result.metric != "accuracy" else ""
    ax.set_xlabel(ax.get_xlabel().replace("latency p50, ", f"latency p50 {unit}"))
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs latency (colour = runtime, area = file size, black edge = Pareto front)",
                 fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    scale = ax.get_xscale()
    plt.close(fig)
    return scale


def to_markdown(result: BenchResult, png_name: str | None = "pareto.png") -> str:
    header, body = rows(result)
    lines = ["# liteformer bench", "", settings_line(result), "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    front = pareto_front(result.candidates)
    metric = METRIC_NAMES.get(result.metric, result.metric)
    lines += ["", f"Pareto front ({metric} vs latency): {', '.join(front) or '–'}."]
    failed = [c for c in result.candidates if not c.ok]
    if failed:
        lines += ["", "Failed: " + "; ".join(f"{c.name}: {c.error}" for c in failed)]
    if png_name:
        lines += ["", f"![Pareto plot]({png_name})"]
    return "\n".join(lines) + "\n"


def to_html(result: BenchResult, png: bytes | None) -> str:
    header, body = rows(result)
    th = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    trs = "".join("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in r) + "</tr>" for r in body)
    img = (f'<img alt="Pareto plot" src="data:image/png;base64,{base64.b64encode(png).decode()}">'
           if png else "")
    machine = html.escape(json.dumps(result.machine))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>liteformer bench</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 7px;text-align:right}}td:first-child{{text-align:left}}</style>
</head><body><h1>liteformer bench</h1><p>{html.escape(settings_line(result))}</p>
<table><tr>{th}</tr>{trs}</table><p>Pareto front: {html.escape(', '.join(pareto_front(result.candidates)))}</p>
{img}<p><small>machine: {machine}</small></p></body></html>
"""


def write_reports(result: BenchResult, out_dir: str | Path) -> dict[str, Path]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / f"bench.{k}" for k in ("json", "md", "html")}
    paths["png"] = out / "pareto.png"
    plot_pareto(result, paths["png"])
    write_json(paths["json"], result.to_dict())
    write_text(paths["md"], to_markdown(result))
    write_text(paths["html"], to_html(result, paths["png"].read_bytes()))
    return paths
