"""Chat turns under load over HTTP: throughput and latency at several offered loads, one worker or several, and
whether one slow turn holds up the other chats.

Starts its own server on a free loopback port (``tier0 serve --workers N``; with N > 1 on PostgreSQL and Redis),
then, for each step, C clients each run scripted conversations back to back for ``--seconds`` and report turns/s
and p50 / p95 / p99 per turn. ``--slow`` adds the non-blocking check: one client sends turns that each take a second
inside the turn (a synchronous one-second wait, as a slow database or model call would be) while another client
chats normally; the normal client's p95 is reported with and without the slow client, with turns on the engine's
turn threads (tier0 today) and, for comparison, awaited on the event loop (tier0 before, ``--inline``).

    .venv/bin/python bench/load.py --workers 1 --clients 1,8,32
    .venv/bin/python bench/load.py --workers 2 --clients 1,8,32 --database-url postgresql://postgres@127.0.0.1/bench \\
        --redis-url redis://127.0.0.1:6379/7
    .venv/bin/python bench/load.py --slow            # the non-blocking check (one worker)
    .venv/bin/python bench/load.py --plot-from bench/curves/load-1w.json,bench/curves/load-2w.json \
        --plot bench/curves/load.png
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Dict, List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from latency import SCRIPTS, free_port, pct  # noqa: E402  (the same conversations as bench/latency.py)

SLOW_MARK = "[slow] "  # bench/slow_server.py waits one second inside turns whose text starts with this


def call(url: str, body=None, token=None, timeout: float = 120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


class Server:
    def __init__(self, args, inline: bool = False):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        home = tempfile.mkdtemp(prefix="tier0-load-")
        # The scripts repeat a dozen texts: the default vector cache (64) answers every turn after the first round
        # from memory; --query-cache 2 makes each repeated message pay its embedding again, like a new question.
        # The sample KB's index and calibration are kept between runs (var/bench-index): a step measures serving,
        # not the first start.
        env = dict(os.environ, TIER0_HOME=home, TIER0_MODEL_CACHE=str(REPO / "var" / "models"), TIER0_QUERY_CACHE=str(args.query_cache),
                   TIER0_INDEX_CACHE=str(REPO / "var" / "bench-index"),
                   TIER0_SLA_INTERVAL="0", TIER0_CALIBRATION_INTERVAL="0", TIER0_TURN_THREADS=str(args.turn_threads))
        if args.database_url:
            env["TIER0_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["TIER0_REDIS_URL"] = args.redis_url
        if args.slow:
            cmd = [sys.executable, str(REPO / "bench" / "slow_server.py"), str(self.port)] + (["--inline"] if inline else [])
        else:
            cmd = [str(REPO / ".venv" / "bin" / "tier0"), "serve", "--port", str(self.port), "--workers", str(args.workers)]
        # its own process group: stop() ends the workers of `--workers N` with their supervisor
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 900) -> None:
        deadline = time.time() + timeout
        while True:
            try:
                if call(self.base + "/healthz", timeout=5)["status"] == "ok":
                    return
            except Exception:  # noqa: BLE001 - not up yet
                if self.proc.poll() is not None:
                    raise RuntimeError(self.proc.stderr.read().decode()[-3000:]) from None
                if time.time() > deadline:
                    raise
            time.sleep(0.5)

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


SENT: List[tuple] = []  # (conversation id, token, the texts whose turn was answered): checked after the run


def client(base: str, until: float, out: List[float], errors: List[str], offset: int, prefix: str = "") -> None:
    i = offset
    while time.time() < until:
        script = SCRIPTS[i % len(SCRIPTS)]
        i += 1
        try:
            conv = call(base + "/api/conversations", {})
            answered: List[str] = []
            SENT.append((conv["conversation_id"], conv["token"], answered))
            for text in script:
                t0 = time.perf_counter()
                call(f"{base}/api/conversations/{conv['conversation_id']}/messages", {"text": prefix + text},
                     conv["token"])
                out.append((time.perf_counter() - t0) * 1000)
                answered.append(prefix + text)
                if time.time() >= until:
                    break
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(f"{type(e).__name__}: {e}")


def nothing_lost(base: str) -> Dict[str, int]:
    """Every answered customer message is in its transcript, once and in order (read after the run)."""
    lost = 0
    for cid, token, answered in SENT:
        messages = call(f"{base}/api/conversations/{cid}/messages", token=token)["messages"]
        got = [m["text"] for m in messages if m["sender"] == "customer"]
        lost += got[: len(answered)] != answered
    return {"conversations": len(SENT), "messages": sum(len(a) for _, _, a in SENT), "with_a_gap": lost}


def cpu_seconds(pgid: Optional[int] = None) -> Dict[str, float]:
    """CPU time used so far: the whole machine (busy, /proc/stat), this load client (every thread), and the server's
    processes (its process group: the workers; PostgreSQL and Redis count in the machine's only)."""
    import resource

    tick = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    machine = (sum(fields) - fields[3] - fields[4]) / tick  # all but idle and iowait
    me = resource.getrusage(resource.RUSAGE_SELF)
    server = 0.0
    if pgid is not None:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(st[2]) == pgid:  # field 5, pgrp (after the name)
                server += (int(st[11]) + int(st[12])) / tick  # utime, stime
    return {"machine": machine, "client": me.ru_utime + me.ru_stime, "server": server}


def step(base: str, clients: int, seconds: float, pgid: Optional[int] = None) -> Dict[str, float]:
    before = cpu_seconds(pgid)
    times: List[List[float]] = [[] for _ in range(clients)]
    errors: List[str] = []
    until = time.time() + seconds
    threads = [threading.Thread(target=client, args=(base, until, times[c], errors, c)) for c in range(clients)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    allt = [x for xs in times for x in xs]
    after = cpu_seconds(pgid)
    turns = max(1, len(allt))
    cpu = {f"cpu_ms_per_turn_{k}": round((after[k] - before[k]) * 1000 / turns, 1) for k in after}
    # the most turns/s this box could give at this CPU cost per turn, every core busy: the ceiling of any worker count
    cpu["ceiling_turns_per_s"] = round((os.cpu_count() or 1) * 1000 / max(cpu["cpu_ms_per_turn_machine"], 1e-9), 1)
    cpu["machine_busy_cores"] = round((after["machine"] - before["machine"]) / elapsed, 2)
    return {"clients": clients, "turns": len(allt), "turns_per_s": len(allt) / elapsed, "p50": pct(allt, 50),
            "p95": pct(allt, 95), "p99": pct(allt, 99), "errors": len(errors), **cpu}


def slow_check(base: str, seconds: float) -> Dict[str, Dict[str, float]]:
    """The normal client's latency alone, then beside a client whose every turn waits one second."""
    alone = step(base, 1, seconds)
    normal: List[float] = []
    slow: List[float] = []
    errors: List[str] = []
    until = time.time() + seconds
    threads = [threading.Thread(target=client, args=(base, until, normal, errors, 0)),
               threading.Thread(target=client, args=(base, until, slow, errors, 3, SLOW_MARK))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    beside = {"turns": len(normal), "p50": pct(normal, 50), "p95": pct(normal, 95), "p99": pct(normal, 99),
              "slow_turns": len(slow), "slow_p50": pct(slow, 50), "errors": len(errors)}
    return {"alone": alone, "beside_slow": beside}


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the servers' stop() on a kill too
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--clients", default="1,8,32", help="offered load steps: concurrent clients, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="per step")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--turn-threads", type=int, default=4)
    ap.add_argument("--query-cache", type=int, default=2, help="TIER0_QUERY_CACHE of the server (64 is the default)")
    ap.add_argument("--database-url")
    ap.add_argument("--redis-url")
    ap.add_argument("--slow", action="store_true", help="the non-blocking check instead of the load steps")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--plot", help="draw p50/p95/p99 and turns/s per step into this PNG (matplotlib)")
    ap.add_argument("--plot-from", help="only draw --plot from these results files (comma-separated), run nothing")
    args = ap.parse_args()
    if args.plot_from:
        plot(args.plot_from, args.plot or "bench/curves/load.png")
        return 0
    results: Dict[str, object] = {"workers": args.workers, "cores": os.cpu_count(), "turn_threads": args.turn_threads,
                                  "query_cache": args.query_cache}
    if args.slow:
        for label, inline in (("turn_threads", False), ("inline", True)):
            server = Server(args, inline=inline)
            try:
                server.wait_ready()
                step(server.base, 1, args.warmup)
                res = slow_check(server.base, args.seconds)
            finally:
                server.stop()
            results[label] = res
            a, b = res["alone"], res["beside_slow"]
            print(f"{label:13} normal client alone: p50 {a['p50']:.0f} ms p95 {a['p95']:.0f} ms | beside a client "
                  f"whose turns take 1 s: p50 {b['p50']:.0f} ms p95 {b['p95']:.0f} ms p99 {b['p99']:.0f} ms "
                  f"({b['turns']} turns; slow client {b['slow_turns']} turns, p50 {b['slow_p50']:.0f} ms)", flush=True)
    else:
        server = Server(args)
        t0 = time.time()
        try:
            server.wait_ready()
            results["start_s"] = round(time.time() - t0, 1)
            step(server.base, min(4, max(int(c) for c in args.clients.split(","))), args.warmup)
            rows = []
            for c in (int(x) for x in args.clients.split(",")):
                row = step(server.base, c, args.seconds, pgid=server.proc.pid)
                rows.append(row)
                print(f"workers {args.workers} clients {c:3d}: {row['turns_per_s']:6.1f} turns/s  p50 "
                      f"{row['p50']:6.0f} ms  p95 {row['p95']:6.0f} ms  p99 {row['p99']:6.0f} ms  "
                      f"({row['turns']} turns, {row['errors']} errors)  CPU ms a turn: server "
                      f"{row['cpu_ms_per_turn_server']}, client {row['cpu_ms_per_turn_client']}, machine "
                      f"{row['cpu_ms_per_turn_machine']} ({row['machine_busy_cores']} cores busy; ceiling "
                      f"{row['ceiling_turns_per_s']} turns/s)", flush=True)
            results["steps"] = rows
            results["nothing_lost"] = check = nothing_lost(server.base)
            print(f"transcripts: {check['messages']} answered messages in {check['conversations']} conversations, "
                  f"{check['with_a_gap']} conversations missing or repeating one", flush=True)
        finally:
            server.stop()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.plot:
        plot(args.json, args.plot)
    return 0


def plot(json_paths: Optional[str], out: str) -> None:
    """One panel of latency percentiles and one of throughput against clients, a line per results file
    (``--json`` may name several files, comma-separated, e.g. one worker and two)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4))
    for n, path in enumerate((json_paths or "").split(",")):
        res = json.loads(Path(path).read_text())
        steps = res.get("steps") or []
        xs = [s["clients"] for s in steps]
        label = f"{res['workers']} worker{'s' if res['workers'] > 1 else ''}, cache {res.get('query_cache', 2)}"
        color = f"C{n}"
        for key, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
            lat.plot(xs, [s[key] for s in steps], style, color=color, marker="o" if key == "p50" else None,
                     label=label if key == "p50" else None)
        thr.plot(xs, [s["turns_per_s"] for s in steps], color=color, marker="o", label=label)
    lat.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="ms per turn",
            title="turn latency (p50 solid, p95 dashed, p99 dotted)")
    thr.set(xscale="log", xlabel="concurrent clients", ylabel="turns/s", title="throughput")
    for ax in (lat, thr):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
