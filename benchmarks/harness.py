"""What every benchmark writes: a table on stdout and a JSON file that records the machine
(CPU model and flags, threads) and package versions next to the numbers."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

from edge_albert.machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results"


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |")


def write_result(name: str, headers: list[str], rows: list[list], data: dict, threads: int) -> Path:
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}.json"
    record = {
        "benchmark": name,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.executable).name] + sys.argv),
        "threads": threads,
        "machine": machine_info(),
        "headers": headers,
        "rows": rows,
        "data": data,
    }
    out.write_text(json.dumps(record, indent=2) + "\n")
    print_table(headers, rows)
    m = record["machine"]
    print(f"\nmachine: {m['cpu_model']} ({m['logical_cpus']} CPUs, flags {' '.join(m['cpu_flags'])}), threads {threads}")
    print(f"wrote {out}")
    return out
