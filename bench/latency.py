"""Chat-turn latency over HTTP: starts `tier0 serve` on a free loopback port, runs scripted conversations,
reports p50 / p95 / max per turn kind. Usage: .venv/bin/python bench/latency.py [--conversations N]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = [
    ["hello", "I forgot my password", "thanks"],
    ["bonjour", "ma commande n'est pas arrivée", "merci"],
    ["how long does delivery take to Belgium?", "that didn't help"],
    ["comment retourner un article ?", "je veux parler à un conseiller"],
    ["can I pay in three instalments?", "yes"],
    ["what is the capital of Australia?", "how do I change my email address?"],
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url: str, body=None, token=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def pct(xs, p):
    """The p-th percentile of xs (nearest rank); nan for none."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))] if xs else float("nan")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conversations", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=6)
    args = ap.parse_args()
    port = free_port()
    home = tempfile.mkdtemp(prefix="tier0-bench-")
    # The scripted conversations repeat a dozen texts: a vector cache of the default size would answer every turn
    # after the first round from memory. Two entries keep what matters (the intent classifier and the search share
    # one turn's vectors) and make every repeated message pay its embedding again, like a new customer's question.
    env = dict(os.environ, TIER0_HOME=home, TIER0_MODEL_CACHE=str(REPO / "var" / "models"), TIER0_QUERY_CACHE="2")
    exe = REPO / ".venv" / "bin" / "tier0"
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 300
        while True:
            try:
                if call(base + "/healthz")["status"] == "ok":
                    break
            except Exception:  # noqa: BLE001 - not up yet
                if proc.poll() is not None:
                    print(proc.stderr.read().decode(), file=sys.stderr)
                    return 1
                if time.time() > deadline:
                    raise
            time.sleep(0.5)
        by_kind: dict = {}
        allt = []
        for i in range(args.warmup + args.conversations):
            script = SCRIPTS[i % len(SCRIPTS)]
            conv = call(base + "/api/conversations", {})
            for text in script:
                t0 = time.perf_counter()
                turn = call(f"{base}/api/conversations/{conv['conversation_id']}/messages", {"text": text},
                            conv["token"])
                ms = (time.perf_counter() - t0) * 1000
                if i >= args.warmup:
                    allt.append(ms)
                    by_kind.setdefault(turn["outcome"]["type"], []).append(ms)
        print(f"turns: {len(allt)} over {args.conversations} conversations (sequential, one client, loopback)")
        print(f"{'kind':10} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for kind, xs in sorted(by_kind.items()) + [("all", allt)]:
            print(f"{kind:10} {len(xs):5d} {statistics.median(xs):8.1f} {pct(xs, 95):8.1f} {max(xs):8.1f}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
