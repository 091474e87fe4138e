"""Trigger to verdict on the wire, per protocol: the real station (a subprocess on the simulated line, triggered
camera) and ``inspector line-sim`` as the PLC, both on loopback.

For each protocol: ``--parts`` parts at ``--rate`` parts/s (p50 and p99 of trigger-to-verdict latency, missing,
late), then rising rates to find the highest with 0 missing and 0 late. The recipe deadline is the target for p99.
Run: ``.venv/bin/python benchmarks/line_latency.py [--bundle DIR] [--parts 1000]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def get_args_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=Path("models/demo-washer-patchcore"))
    parser.add_argument("--parts", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--rates", default="15,20,25,30,40",
                        help="rates to try for the highest with nothing missing, late or left uninspected")
    parser.add_argument("--probe-parts", type=int, default=300)
    parser.add_argument("--deadline-ms", type=float, default=2000.0)
    parser.add_argument("--protocols", default="opcua,modbus")
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(root: Path, bundle: Path, deadline_ms: float) -> tuple[Path, dict[str, str]]:
    size = yaml.safe_load((bundle / "manifest.json").read_text())["input"]["height"]
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"name": "bench", "id": 1, "models": [{"bundle": str(bundle.resolve())}],
                                      "min_defect_area": 30, "deadline_ms": deadline_ms}))
    opcua, modbus = free_port(), free_port()
    station = root / "station.yaml"
    station.write_text(yaml.safe_dump({
        "station": {"name": "bench", "data_dir": str(root / "station")},
        "camera": {"kind": "sim", "sim": {"product": "washer", "fps": 20, "size": size, "pool": 32}},
        "recipe": str(recipe), "pipeline": {"queue_size": 8, "backpressure": "drop_oldest", "runtime": "onnxruntime"},
        "line": {"opcua": {"endpoint": f"opc.tcp://127.0.0.1:{opcua}/inspector/"}, "modbus": {"port": modbus}},
        "security": {"require_signed_recipes": False},  # a throw-away recipe of the benchmark's own
    }))
    return station, {"opcua": f"opc.tcp://127.0.0.1:{opcua}/inspector/", "modbus": f"127.0.0.1:{modbus}",
                     "opcua_port": str(opcua), "modbus_port": str(modbus)}


def wait_port(port: int, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"the station did not listen on {port}")


def not_inspected(root: Path) -> int:
    """Parts the station answered REJECT without inspecting them (its queue was full), so far."""
    import sqlite3

    with sqlite3.connect(root / "station" / "inspector.db") as db:
        return db.execute("select count(*) from inspections where reason_codes like '%not_inspected%'").fetchone()[0]


def sim(protocol: str, endpoint: str, parts: int, rate: float) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "inspector.cli", "line-sim", "--protocol", protocol, "--parts",
                          str(parts), "--rate", str(rate), "--endpoint", endpoint], capture_output=True, text=True,
                         cwd=ROOT, timeout=parts / rate + 300)
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("parts=")][-1]
    return {k: float(v) for k, v in (item.split("=") for item in line.split())} | {"line": line}


def main(args: argparse.Namespace) -> None:
    if not (args.bundle / "manifest.json").is_file():
        raise SystemExit(f"{args.bundle}: no bundle; run `make demo` first or pass --bundle")
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; bundle {args.bundle}; recipe deadline "
          f"{args.deadline_ms:.0f} ms; simulated camera triggered by the PLC")
    for protocol in args.protocols.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            config, line = write_config(Path(tmp), args.bundle, args.deadline_ms)
            station = subprocess.Popen([sys.executable, "-m", "inspector.cli", "run", "--config", str(config),
                                        "--headless", "--camera", "sim", "--line", protocol], cwd=ROOT,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(int(line[f"{protocol}_port"]))
                steady = sim(protocol, line[protocol], args.parts, args.rate)
                verdict = "PASS" if steady["missing"] == 0 and steady["p99_ms"] < args.deadline_ms else "FAIL"
                print(f"{protocol}: {args.parts} parts at {args.rate:g}/s: {steady['line']}  -> {verdict} "
                      f"(p99 {steady['p99_ms']:.1f} ms against the {args.deadline_ms:.0f} ms deadline: "
                      f"{steady['p99_ms'] / args.deadline_ms:.3f}x)")
                best = None
                skipped = not_inspected(Path(tmp))
                for rate in (float(r) for r in args.rates.split(",")):
                    probe = sim(protocol, line[protocol], args.probe_parts, rate)
                    time.sleep(2)
                    skipped, before = not_inspected(Path(tmp)), skipped
                    ok = probe["missing"] == 0 and probe["late"] == 0 and skipped == before
                    print(f"{protocol}: {args.probe_parts} parts at {rate:g}/s: {probe['line']}; rejected uninspected "
                          f"(queue full) {skipped - before}" + ("" if ok else "  <- over capacity"))
                    if not ok:
                        break
                    best = (rate, probe)
                if best:
                    print(f"{protocol}: highest rate with 0 missing, 0 late, every part inspected: {best[0]:g} "
                          f"parts/s, p50 {best[1]['p50_ms']:.1f} ms, p99 {best[1]['p99_ms']:.1f} ms")
            finally:
                station.send_signal(2)
                station.wait(120)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main(get_args_parser().parse_args())
