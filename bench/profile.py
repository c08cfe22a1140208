"""`make profile`: where the server's CPU per lead goes, sampled by py-spy under the benchmark's load.

Starts `leadrelay serve` on a fresh SQLite database (intake alone with `--workers 0`, or end to end with one
worker loop and buyers answering at once), loads it with wrk (a new person per request, dedup on) and
samples it with py-spy. Prints the share of samples per module (where the time is spent, self time) and
per leadrelay function on the stack (inclusive), and writes the collapsed stacks for a flame graph.

    python bench/profile.py [--e2e] [--seconds 15] [--out /tmp/leadrelay.collapsed]
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import CLI, Generator, free_port, prepare, start, stop, wait_up


def module_of(frame: str) -> str:
    """'handle (leadrelay/services/intake.py:120)' -> 'leadrelay/services/intake.py'."""
    if "(" not in frame:
        return frame
    where = frame.rsplit("(", 1)[1].rstrip(")")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", "/src/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def summarize(collapsed: Path, top: int) -> None:
    self_by_module: collections.Counter[str] = collections.Counter()
    incl_by_function: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        if not line.strip():
            continue
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_by_module[module_of(frames[-1])] += count
        seen = set()
        for frame in frames:
            if "leadrelay/" in frame and frame not in seen:
                seen.add(frame)
                incl_by_function[frame.split(" (")[0] + " " + module_of(frame)] += count
    if not total:
        print("no samples")
        return
    print(f"{total} samples (idle excluded)\n\nself time by module:")
    for name, count in self_by_module.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("\nleadrelay functions on the stack (inclusive):")
    for name, count in incl_by_function.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--e2e", action="store_true", help="API + one worker loop (default: intake alone)")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "leadrelay.collapsed")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        sys.exit("py-spy is not installed: pip install py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/profile.db"
        buyers_port, port = free_port(), free_port()
        prepare(url, buyers_port)
        env = {"LEADRELAY_DATABASE_URL": url, "LEADRELAY_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8"}
        buyers = start([*CLI, "simulate-buyers", "--port", str(buyers_port), "--latency-ms", "0"], env)
        server = start([*CLI, "serve", "--port", str(port), "--workers", "1" if args.e2e else "0"], env)
        try:
            wait_up(f"http://127.0.0.1:{port}/health")
            gen = Generator(
                args.concurrency, args.seconds * 500, args.seconds, shutil.which("wrk") is not None
            )
            gen.run(f"http://127.0.0.1:{port}", warm_up=True)
            spy = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--format",
                    "raw",
                    "--rate",
                    "250",
                    "--duration",
                    str(args.seconds + 1),
                    "--output",
                    str(args.out),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            load = threading.Thread(target=gen.run, args=(f"http://127.0.0.1:{port}",))
            load.start()
            load.join()
            spy.wait(timeout=args.seconds + 60)
        finally:
            stop(server)
            stop(buyers)
    print(f"collapsed stacks: {args.out} (for a flame graph: flamegraph.pl, speedscope)")
    summarize(args.out, args.top)


if __name__ == "__main__":
    main()
