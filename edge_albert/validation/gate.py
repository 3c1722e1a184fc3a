"""`edge-albert check`: the CI regression gate.

Compares a validation report with a baseline report and thresholds. Artifacts are matched by
(name, runtime). Latency is judged as a ratio to the reference model measured in the same run,
so a slower or busier machine does not fail the gate; only a model that got slower relative to
its reference does. Exit codes: 0 pass, 1 regression, 2 usage or input error.
"""

from __future__ import annotations

import dataclasses

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from edge_albert.errors import InputError
from edge_albert.jsonfile import check_schema, read_json
from edge_albert.machine import cpu_class, cpu_class_name, cpu_core
from edge_albert.staging import staged_file


@dataclass
class GateThresholds:
    # Absolute, vs the baseline's value for the same artifact, of the task's headline metric
    # (accuracy; entity F1 for token classification; SQuAD F1 for question answering).
    max_accuracy_drop: float = 0.005
    min_agreement: float = 0.99  # with the fp32 reference
    # A pruned model is a new model: it agrees with its unpruned parent less than a conversion
    # does (the demo's 25%-heads/25%-FFN int8 model: ~96%), and its accuracy is held by the
    # baseline check. Its own, looser agreement floor keeps "did it stay the same model" honest.
    pruned_min_agreement: float = 0.95
    # Integer-precision files: the fraction of weight MatMuls that run with integer weights, and
    # never less than the baseline's (a quantizer that leaves ALBERT's shared layer in fp32 after
    # its first use drops it from 1.0 to ~0.3 while the file still works).
    min_quantized_fraction: float = 0.9
    max_logit_diff: float | None = None  # absolute, with the fp32 reference
    max_size_growth: float = 0.05  # relative, vs the baseline's size
    max_latency_ratio_growth: float = 0.5  # relative growth of (artifact p50 / reference p50)
    # Targets (ARM64 under qemu, devices): the same file on the target vs on this host.
    target_min_agreement: float = 0.95
    target_max_logit_diff: float = 0.05

    @classmethod
    def from_file(cls, path: Path) -> GateThresholds:
        data = read_json(path)
        check_schema(data, "edge_albert.validation", "thresholds.schema.json", path, "thresholds")
        return cls(**data)

    @classmethod
    def load(cls, path: Path | None = None, **overrides: float | None) -> GateThresholds:
        """The defaults, or the thresholds file at `path`, with each override that is not None on top."""
        limits = cls.from_file(path) if path else cls()
        return dataclasses.replace(limits, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class CheckRow:
    artifact: str
    runtime: str
    check: str
    value: float | None
    limit: float | None
    baseline: float | None
    ok: bool
    note: str = ""

    @property
    def skipped(self) -> bool:
        return self.ok and self.note.startswith("skipped")


@dataclass
class GateResult:
    rows: list[CheckRow] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.rows)

    @property
    def failures(self) -> list[CheckRow]:
        return [r for r in self.rows if not r.ok]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "rows": [{**asdict(r), "skipped": r.skipped} for r in self.rows]}


def task_of(report: dict) -> tuple[str, str]:
    """(task, headline metric) of a report; reports before schema 3 are classification."""
    return report.get("task", "text-classification"), report.get("metric", "accuracy")


def score(result: dict, metric: str = "accuracy") -> float:
    """A result's headline metric: its `accuracy` for classification (one field, so a report can
    never carry a second, different accuracy for the gate to read), else its `score`."""
    if metric == "accuracy":
        return result["accuracy"]
    if result.get("score") is None:
        raise InputError(f"result {result.get('name')!r} has no score ({metric}); validate it again with this edge-albert")
    return result["score"]


def _p50_real(result: dict, threads: int = 1) -> float | None:
    for lat in result.get("latency", []):
        if lat["threads"] == threads and lat.get("real"):
            return lat["real"]["p50_ms"]
    return None


def _reference(report: dict) -> dict | None:
    ref = report.get("reference")
    for r in report["results"]:
        if r["artifact"] == ref or r["runtime"] == "torch":
            return r
    return None


def _latency_ratio(report: dict, result: dict) -> float | None:
    ref = _reference(report)
    if ref is None or result.get("emulated"):
        return None
    a, b = _p50_real(result), _p50_real(ref)
    return a / b if a and b else None


def latency_comparable(report: dict, baseline: dict) -> str | None:
    """None when the two reports' latencies can be compared, else why not.

    Latency is judged relative to the fp32 reference, but that ratio still depends on the
    instruction set: int8 kernels gain far more from AVX512-VNNI than fp32 ones do, and bf16 or
    AMX change it again. Only a baseline of the very same CPU class (architecture and flags)
    says anything about this run's latency.
    """
    if cpu_class(report["machine"]) == cpu_class(baseline["machine"]):
        return None
    return (f"no baseline of this CPU class ({cpu_class_name(report['machine'])}; the nearest is "
            f"{cpu_class_name(baseline['machine'])}): record one on this class")


def describe_machine(report: dict) -> str:
    """`AMD EPYC, x86_64 avx avx2 fma, 2 CPUs, 0.03 busy with other work`: the machine a report was
    measured on and how busy other processes kept it during the latency runs, one line."""
    m = report.get("machine") or {}
    other = m.get("other_cpu_load")
    core = f" (core {m['cpu_core']})" if m.get("cpu_core") else ""
    return (f"{m.get('cpu_model', 'unknown CPU')}{core}, {m.get('machine', '?')} {' '.join(m.get('cpu_flags') or []) or 'no flags'}, "
            f"{m.get('logical_cpus', '?')} CPUs" + (f", {other:.2f} busy with other work" if other is not None else ""))


@dataclass
class BaselineChoice:
    baseline: dict
    index: int  # position in the list given
    same_class: bool  # latency checks are live only then
    rule: str  # one line: which baseline and why


def select_baseline(report: dict, baselines: list[dict]) -> BaselineChoice:
    """The rule: a baseline of this report's CPU class (architecture and flags) if one is given,
    preferring one of the same core design (`machine.cpu_core`), then one that does not record
    its core, then another core; else the nearest class of the same architecture (fewest
    differing flags, then the first given), with latency not comparable; a baseline of another
    architecture is never used."""
    if not baselines:
        raise InputError("no baseline report given")
    arch, flags = cpu_class(report["machine"])
    here, core = cpu_class_name(report["machine"]), cpu_core(report["machine"])
    same_class = [i for i, b in enumerate(baselines) if cpu_class(b["machine"]) == (arch, flags)]
    if same_class:
        def preference(i: int) -> int:
            other = cpu_core(baselines[i]["machine"])
            return 0 if core is not None and other == core else 1 if other is None else 2
        best = min(same_class, key=lambda i: (preference(i), i))
        other = cpu_core(baselines[best]["machine"])
        which = {0: f", same core {core}", 1: "", 2: f", core {other} (this run {core or 'unrecorded'}; record one on this core)"}[preference(best)]
        return BaselineChoice(baselines[best], best, True, f"same CPU class ({here}{which}): every check live")
    same_arch = [i for i, b in enumerate(baselines) if cpu_class(b["machine"])[0] == arch]
    if not same_arch:
        given = ", ".join(sorted({cpu_class_name(b["machine"]) for b in baselines}))
        raise InputError(f"no baseline for {arch} (given: {given}); record one on a {arch} machine with `edge-albert baseline`")
    nearest = min(same_arch, key=lambda i: (len(cpu_class(baselines[i]["machine"])[1] ^ flags), i))
    differs = sorted(cpu_class(baselines[nearest]["machine"])[1] ^ flags)
    rule = (f"nearest CPU class {cpu_class_name(baselines[nearest]['machine'])} (this run {here}; differs in {', '.join(differs)}): "
            "latency not comparable")
    return BaselineChoice(baselines[nearest], nearest, False, rule)


def check_report(report: dict, baseline: dict, thresholds: GateThresholds, *, require_latency: bool = False,
                 floors: dict | None = None) -> GateResult:
    """Every check for every artifact of `report` that the baseline also has, and the `floors`
    (see `load_floors`). With `require_latency`, a latency that cannot be compared (no baseline
    of this CPU class, or no measurement) fails instead of being skipped."""
    base_index = {(r["name"], r["runtime"]): r for r in baseline["results"]}
    gate = GateResult()
    (task, metric), (base_task, base_metric) = task_of(report), task_of(baseline)
    if (task, metric) != (base_task, base_metric):
        gate.rows.append(CheckRow("-", "-", "task", None, None, None, False,
                                  f"the report is {task} ({metric}) but the baseline is {base_task} ({base_metric}): compare like with like"))
        return gate
    latency_skip = latency_comparable(report, baseline)
    for r in report["results"]:
        key = (r["name"], r["runtime"])
        base = base_index.get(key)
        add = lambda check, value, limit, base_value, ok, note="": gate.rows.append(CheckRow(r["name"], r["runtime"], check, value, limit, base_value, bool(ok), note))  # noqa: E731
        agreement = r["fidelity"]["agreement"]
        pruned = bool(r.get("pruned"))
        floor = thresholds.pruned_min_agreement if pruned else thresholds.min_agreement
        add("agreement", agreement, floor, base["fidelity"]["agreement"] if base else None, agreement >= floor,
            "pruned model: pruned_min_agreement" if pruned else "")
        if thresholds.max_logit_diff is not None and not pruned:
            diff = r["fidelity"]["max_abs_logit_diff"]
            add("max_abs_logit_diff", diff, thresholds.max_logit_diff, base["fidelity"]["max_abs_logit_diff"] if base else None, diff <= thresholds.max_logit_diff)
        if str(r.get("precision", "")).startswith(("int8", "int4")):
            fraction = (r.get("quantization") or {}).get("quantized_fraction")
            base_fraction = ((base or {}).get("quantization") or {}).get("quantized_fraction")
            limit = max(thresholds.min_quantized_fraction, base_fraction or 0.0)
            add("quantized_fraction", fraction, limit, base_fraction, fraction is not None and fraction >= limit - 1e-12,
                "weight MatMuls with integer weights" if fraction is not None else "not measured (report predates coverage)")
        if base is None:
            add("baseline", None, None, None, True, "no baseline entry: only absolute checks applied")
            continue
        value, base_value = score(r, metric), score(base, metric)
        limit = base_value - thresholds.max_accuracy_drop
        add(metric, value, limit, base_value, value >= limit - 1e-12, "" if metric == "accuracy" else f"{task} headline metric")
        size_limit = base["size_bytes"] * (1 + thresholds.max_size_growth)
        add("size_bytes", r["size_bytes"], size_limit, base["size_bytes"], r["size_bytes"] <= size_limit)
        ratio, base_ratio = _latency_ratio(report, r), _latency_ratio(baseline, base)
        if (ratio is None) != (base_ratio is None) and require_latency:
            add("latency_ratio_to_reference", ratio, None, base_ratio, False, "latency measured in only one of the report and the baseline")
        elif ratio is not None and base_ratio is not None and latency_skip:
            add("latency_ratio_to_reference", ratio, None, base_ratio, not require_latency,
                ("" if require_latency else "skipped: ") + latency_skip)
        elif ratio is not None and base_ratio is not None:
            ratio_limit = base_ratio * (1 + thresholds.max_latency_ratio_growth)
            add("latency_ratio_to_reference", ratio, ratio_limit, base_ratio, ratio <= ratio_limit, "p50, real sentences, batch 1, 1 thread")
    missing = set(base_index) - {(r["name"], r["runtime"]) for r in report["results"]}
    for name, runtime in sorted(missing):
        gate.rows.append(CheckRow(name, runtime, "present", None, None, None, False, "artifact in the baseline is missing from this run"))
    _check_targets(report, baseline, thresholds, gate)
    if floors is not None:
        gate.rows.extend(check_floors(report, floors))
    return gate


# Floors: absolute bounds per artifact, kept in a reviewed file beside the baselines. A baseline
# is re-recorded after an intended change, and nothing stops a series of small accepted losses
# from adding up, except a bound no baseline may cross.
FLOOR_CHECKS = {
    # A report without accuracy (sentence embeddings) fails a min_accuracy floor: not measured is not passed.
    "min_accuracy": ("floor_accuracy", lambda r: r["accuracy"], lambda v, limit: v is not None and v >= limit),
    # The task's headline metric: accuracy, entity F1 (NER), SQuAD F1 (QA); see check_floors.
    "min_score": ("floor_score", None, lambda v, limit: v >= limit),
    "min_agreement": ("floor_agreement", lambda r: r["fidelity"]["agreement"], lambda v, limit: v >= limit),
    "max_abs_logit_diff": ("floor_max_abs_logit_diff", lambda r: r["fidelity"]["max_abs_logit_diff"], lambda v, limit: v <= limit),
    "min_quantized_fraction": ("floor_quantized_fraction", lambda r: (r.get("quantization") or {}).get("quantized_fraction"),
                               lambda v, limit: v is not None and v >= limit),
}


def load_floors(path: Path) -> dict:
    """A floors file: {"artifacts": {NAME: {"min_accuracy": ..., "min_agreement": ..., ...}}}."""
    data = read_json(path, missing="floors file not found")
    check_schema(data, "edge_albert.validation", "floors.schema.json", path, "floors")
    return data


def check_floors(report: dict, floors: dict) -> list[CheckRow]:
    rows = []
    results = {r["name"]: r for r in report["results"]}
    for name, bounds in sorted(floors["artifacts"].items()):
        r = results.get(name)
        if r is None:
            rows.append(CheckRow(name, "-", "floor_present", None, None, None, False, "an artifact with a floor is missing from this run"))
            continue
        for key, limit in bounds.items():
            check, value_of, ok = FLOOR_CHECKS[key]
            value = score(r, task_of(report)[1]) if value_of is None else value_of(r)
            rows.append(CheckRow(name, r["runtime"], check, value, limit, None, bool(ok(value, limit)), "floors file"))
    return rows


def _git(*args: str) -> str | None:
    import subprocess

    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30, cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(report: dict) -> dict:
    """Where a baseline came from: the commit of the code that measured it, when, on what."""
    import datetime as _dt

    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "uncommitted_changes": bool(status) if status is not None else None,
        "recorded": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "measured": report.get("created"),
        "cpu_class": cpu_class_name(report["machine"]),
        "cpu_core": cpu_core(report["machine"]),
        "cpu_model": report["machine"].get("cpu_model"),
        "versions": report["machine"].get("versions", {}),
    }


# A baseline's latency ratios hold for a quiet machine only: with other work beside the
# measurement, PyTorch's many small kernels slow down more than ONNX Runtime's or LiteRT's few
# large ones, every ratio to the reference moves (a baseline recorded beside a training run put
# every artifact 30-55% faster relative to PyTorch than a quiet machine of its class measures).
MAX_BASELINE_OTHER_CPU_LOAD = 0.5  # CPUs other processes may keep busy while latency is measured


def baseline_name(machine: dict) -> str:
    """A baseline file's name without `.json`: its CPU class and core design
    (`x86_64-avx-avx2-fma.amd-23-1`), so recording on one core never replaces another's; the class
    alone for a report that does not record its core."""
    core = cpu_core(machine)
    return f"{cpu_class_name(machine)}.{core}" if core else cpu_class_name(machine)


def write_baseline(report: dict, directory: Path, floors: dict, thresholds: GateThresholds | None = None, *, force: bool = False) -> Path:
    """Record `report` as the baseline of its own CPU class in `directory`/CLASS.CORE.json
    (CLASS.json when the report does not record its core design), with its
    provenance. Refused (InputError) when it is below a floor or fails the gate's absolute checks
    (agreement, max logit diff): re-recording can move a baseline, never under the floors; and
    when other processes kept the machine busy while its latency was measured."""
    other = (report.get("machine") or {}).get("other_cpu_load")
    if other is not None and other > MAX_BASELINE_OTHER_CPU_LOAD:
        raise InputError(f"not recorded: other processes kept {other:.2f} CPUs busy while latency was measured "
                         f"(at most {MAX_BASELINE_OTHER_CPU_LOAD} for a baseline); validate again on a quiet machine")
    gate = GateResult(check_floors(report, floors))
    absolute = check_report(report, report, thresholds or GateThresholds())
    gate.rows.extend(r for r in absolute.rows if r.check in ("agreement", "max_abs_logit_diff") or r.check.startswith("target_"))
    if not gate.passed:
        worst = gate.failures[0]
        raise InputError(f"not recorded: {len(gate.failures)} check(s) fail, e.g. {worst.artifact} {worst.check} {worst.value} vs {worst.limit}; "
                         "a baseline may not cross the floors")
    target = Path(directory) / f"{baseline_name(report['machine'])}.json"
    with staged_file(target, force=force) as stage:
        stage.write_text(json.dumps({**report, "provenance": provenance(report)}, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return target


def _target_models(report: dict) -> dict[tuple[str, str], tuple[dict, dict]]:
    return {(f"{Path(m['artifact']).name}@{run['target']}", m["runtime"]): (run, m) for run in report.get("targets", []) for m in run["models"]}


def _check_targets(report: dict, baseline: dict, thresholds: GateThresholds, gate: GateResult) -> None:
    current, base = _target_models(report), _target_models(baseline)
    for (name, runtime), (run, m) in current.items():
        b = base.get((name, runtime))
        b_host = b[1]["vs_host"] if b else {}
        add = lambda check, value, limit, base_value, ok, note="": gate.rows.append(CheckRow(name, runtime, check, value, limit, base_value, bool(ok), note))  # noqa: E731
        agreement, diff = m["vs_host"]["agreement"], m["vs_host"]["max_abs_logit_diff"]
        ok, note = agreement >= thresholds.target_min_agreement, ""
        # The same allowance as for the logit difference below, for what a user sees: the device
        # agrees with the fp32 model at least as often as the host's own run of the file does
        # (token tasks judge whole sentences and windows, where one near-tie flips the verdict).
        host_agrees = (m.get("host_vs_reference") or {}).get("agreement")
        device_agrees = (m.get("vs_reference") or {}).get("agreement")
        if not ok and host_agrees is not None and device_agrees is not None and device_agrees >= host_agrees:
            ok, note = True, (f"device agrees with the fp32 reference at least as often as the host ({device_agrees:.3g} >= {host_agrees:.3g}): "
                              "the host's int8 kernels differ, not the device")
        add("target_agreement_vs_host", agreement, thresholds.target_min_agreement, b_host.get("agreement"), ok, note)
        ok, note = diff <= thresholds.target_max_logit_diff, ""
        # The host's error on the target's own texts (the same sentences), never on another set.
        host_error = (m.get("host_vs_reference") or {}).get("max_abs_logit_diff")
        device_error = (m.get("vs_reference") or {}).get("max_abs_logit_diff")
        if not ok and host_error is not None and device_error is not None and device_error <= host_error:
            # The device is no further from the fp32 model than the host's own run of this file:
            # the host's kernels are the ones off (x86 without VNNI saturates int8 products in
            # 16 bits, ARM's dot products do not), and the device stays within the file's budget.
            ok, note = True, (f"device within the host's own error vs the fp32 reference ({device_error:.3g} <= {host_error:.3g}): "
                              "the host's int8 kernels differ, not the device")
        add("target_max_logit_diff_vs_host", diff, thresholds.target_max_logit_diff, b_host.get("max_abs_logit_diff"), ok, note)
        mismatches = len(run["tokenizer_mismatches"])
        add("target_tokenizer_ids", float(mismatches), 0.0, None, mismatches == 0, "texts whose token ids differ from the host's")
    for name, runtime in sorted(set(base) - set(current)):
        gate.rows.append(CheckRow(name, runtime, "present", None, None, None, False, "target run in the baseline is missing from this run"))


def format_table(gate: GateResult, only_failures: bool = False) -> str:
    rows = gate.failures if only_failures else gate.rows
    fmt = lambda v: "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [f"{'status':6} {'artifact':32} {'runtime':12} {'check':28} {'value':>12} {'limit':>12} {'baseline':>12}"]
    for r in rows:
        status = "skip" if r.skipped else "ok" if r.ok else "FAIL"
        lines.append(f"{status:6} {r.artifact[:32]:32} {r.runtime:12} {r.check:28} {fmt(r.value):>12} {fmt(r.limit):>12} {fmt(r.baseline):>12}")
    return "\n".join(lines)


def write_junit(gate: GateResult, path: Path, *, force: bool = False) -> Path:
    cases = []
    for r in gate.rows:
        name = quoteattr(f"{r.artifact} [{r.runtime}] {r.check}")
        body = f"<skipped message={quoteattr(r.note)}/>" if r.skipped else "" if r.ok else f"<failure message={quoteattr(f'{r.check}: {r.value} vs limit {r.limit} (baseline {r.baseline}) {r.note}')}/>"
        cases.append(f"  <testcase classname=\"edge-albert.check\" name={name}>{body}</testcase>")
    xml = (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="edge-albert check" tests="{len(gate.rows)}" '
           f'failures="{len(gate.failures)}">\n' + "\n".join(cases) + "\n</testsuite>\n")
    with staged_file(Path(path), force=force) as stage:
        stage.write_text(xml, encoding="utf-8")
    return Path(path)


__all__ = ["GateThresholds", "GateResult", "CheckRow", "BaselineChoice", "check_report", "check_floors", "load_floors", "latency_comparable",
           "select_baseline", "baseline_name", "write_baseline", "provenance", "format_table", "write_junit"]
