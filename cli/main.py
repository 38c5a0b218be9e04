"""The `tier0` command. Heavy modules are imported inside each command so `tier0 --help` stays instant.

Exit codes: 0 success, 1 the command ran but found problems (bad articles, failed eval cases with --strict),
2 bad input or configuration (one line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

from tier0.vocab import ArticleStatus, Role  # light: the words of the domain, no model


def _settings(args):
    """The settings from the environment; a bad value is one clear line (which TIER0_ variable, why), not a
    traceback."""
    from pydantic import ValidationError

    from tier0.config import Settings, get_settings
    from tier0.errors import InvalidInput

    try:
        settings = Settings(home=args.home) if getattr(args, "home", None) else get_settings()
    except ValidationError as e:
        problems = "; ".join(f"TIER0_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
                             for err in e.errors())
        raise InvalidInput(f"invalid setting: {problems}") from None
    from retrieval.embedder import check_model_names

    for var, spec in (("EMBEDDING_MODEL", settings.embedding_model),
                      ("CLASSIFIER_EXTRA_MODELS", settings.classifier_extra_models)):
        try:
            check_model_names(spec)  # before any model loads, not halfway through the start
        except InvalidInput as e:
            raise InvalidInput(f"invalid setting: TIER0_{var}: {e.message}") from None
    return settings


def _logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    from tier0.privacy import install_log_masking

    install_log_masking()  # personal data masked in every log line


def cmd_serve(args) -> int:
    import os

    import uvicorn

    settings = _settings(args)
    host = args.host or settings.host
    port = args.port or settings.port
    workers = args.workers or settings.workers
    from api.limits import proxy_options

    proxies = proxy_options(settings)  # whose X-Forwarded-For / -Proto uvicorn believes (TIER0_TRUSTED_PROXIES)
    # Rasa pins websockets 10; uvicorn's websockets implementation needs newer, so use wsproto.
    if workers == 1:
        from api.app import create_app

        print(f"tier0: starting on http://{host}:{port} (chat page at /, desk at /desk, API docs at /docs)", flush=True)
        uvicorn.run(create_app(settings), host=host, port=port, ws="wsproto", log_level="warning", **proxies)
        return 0
    from tier0.errors import InvalidInput

    if not settings.redis_url:
        raise InvalidInput(f"--workers {workers} needs TIER0_REDIS_URL: the workers share live events and "
                           "conversation locks through Redis")
    if settings.db_url.startswith("sqlite"):
        print("tier0: warning: several workers on SQLite work on one machine but write one at a time; "
              "set TIER0_DATABASE_URL to PostgreSQL for real traffic", file=sys.stderr)
    # What every worker needs, done once here and not N times at once: the schema, the sample KB, the search
    # index and calibration on disk, the trained Rasa model. In a child process, so this one stays small.
    code = _prepare_in_child(args)
    if code:
        return code
    if args.home:
        os.environ["TIER0_HOME"] = str(settings.home)  # the workers read their settings from the environment
    print(f"tier0: starting {workers} workers on http://{host}:{port} (chat page at /, desk at /desk)", flush=True)
    uvicorn.run("api.app:factory", factory=True, host=host, port=port, workers=workers, ws="wsproto",
                log_level="warning", **proxies)
    return 0


def _prepare_in_child(args) -> int:
    import subprocess

    cmd = [sys.executable, "-m", "cli"] + (["--home", args.home] if args.home else []) + ["prepare"]
    return subprocess.run(cmd).returncode


def cmd_prepare(args) -> int:
    from bot.rasa_runtime import trained_model
    from bot.services import build_services
    from retrieval.embedder import every_core

    settings = _settings(args)
    services = build_services(settings)  # migrates, imports the sample KB if empty, syncs the index, calibrates
    with every_core(settings.torch_threads):
        model = trained_model(settings.models_dir)
    services.db.dispose()
    print(f"tier0: ready to serve: {len(services.index)} articles searchable, model {model.name}")
    return 0


def cmd_db(args) -> int:
    from tier0.db import migrate_command

    settings = _settings(args)
    return migrate_command(settings.db_url, args.db_command or "current")


def cmd_calibrate(args) -> int:
    from bot.feedback import read
    from bot.services import build_services
    from retrieval import calibration

    settings = _settings(args)
    settings.feedback_refit_min_interval = 0.0  # asked by the operator: new feedback refits now, not in an hour
    previous = _saved_calibration(settings.calibration_file)  # to print before / after (#22 BC)
    if args.force:  # no saved calibration: the start-up below fits a new one
        settings.calibration_file.unlink(missing_ok=True)
    services = build_services(settings, import_sample=False)  # loads the calibration, refitting if it is stale
    feedback, asked = read(services.db, per_conversation=settings.feedback_per_conversation,
                           questions_per_conversation=settings.feedback_questions_per_conversation)
    cal = services.index.calibrator
    helped = sum(fb.helpful for fb in feedback)
    print(f"feedback: {len(feedback)} labelled answers ({helped} helped, {len(feedback) - helped} did not)")
    if cal is None:
        print("calibration: none (the KB is too small to learn from); the fixed answer threshold applies")
        return 0
    thresholds = ", ".join(f"{k}={v:.3f}" for k, v in sorted(cal.thresholds.items()))
    print(f"calibration: target wrong-answer rate {cal.target:.1%}; answer thresholds {thresholds}")
    guard = sorted(cal.stats.get("threshold_bounds", {}).items())
    bounds = ", ".join(f"{k}={lo:.3f}-{hi:.3f}" for k, (lo, hi) in guard)
    if bounds:
        print(f"customers' votes move them within (set by the KB and agents' flags alone): {bounds}")
    if "traffic_share" in cal.stats:
        source = f"learnt from {cal.stats['traffic']} customer questions (estimate {cal.stats['traffic_share']:.1%})"
    elif cal.learn_share:
        source = (f"assumed (TIER0_OUT_OF_KB_SHARE); learnt once {calibration.MIN_TRAFFIC} customer questions exist, "
                  f"{len(asked)} so far")
    else:
        source = "set by TIER0_OUT_OF_KB_SHARE (learning is off)"
    print(f"out-of-KB share: {cal.share_used:.1%}, {source}")
    if cal.classifier is not None and cal.extra_offered:
        oof = f"out-of-fold accuracy {cal.stats.get('classifier_oof_search', 0):.3f} without, " \
              f"{cal.stats.get('classifier_oof_with_extra', 0):.3f} with"
        used = "reads" if cal.classifier.extra else "does not read"
        print(f"article classifier: {used} {', '.join(cal.extra_offered)} ({oof}; TIER0_CLASSIFIER_EXTRA_MODELS)")
    print("stats: " + ", ".join(f"{k}={v}" for k, v in cal.stats.items() if k not in ("curve", "curve_before")))
    _print_before_after(previous, cal)
    by_lang = cal.stats.get("queries_by_language", {})
    for lang in cal.prior_langs:
        where = "any other language" if lang == "*" else lang
        have = "" if lang == "*" else f"{by_lang.get(lang, 0)} titles and phrasings, "
        print(f"day one in {where}: the bot answers with the prior learnt across KBs (threshold "
              f"{cal.thresholds[lang]:.3f}; {have}not enough for a threshold of this KB's own). It suggests up to "
              f"three articles when unsure. Alternate questions in the customers' words (`questions:`) and "
              f"'did this help?' answers let the KB set its own threshold")
    if cal.unreached:
        print("articles none of their own titles or phrasings finds first (add a phrasing in the customers' words, "
              "or make the title specific):")
        print("  " + ", ".join(cal.unreached))
    never = sorted(k for k, v in cal.thresholds.items() if v >= 1.0 and k != "*")
    if cal.thresholds.get("*", 0.0) >= 1.0:
        never.append("any other language" if never else "any language")
    if never:
        print(f"no confidence level keeps wrong answers under the target in {' and '.join(never)}: the bot does not "
              f"answer there, it clarifies or hands off (the confusions and near-duplicates below are why)")
    if cal.confusions:
        print("KB phrasings that find another article first (reword them, or merge / split the articles, and the")
        print("bot can answer at a lower confidence):")
        for c in cal.confusions:
            print(f"  {c['confidence']:.3f}  {c['article']}: {c['question']!r} -> {c['found']}")
    if cal.duplicates:
        total = int(cal.stats.get("near_duplicates", len(cal.duplicates)))
        more = f", the {len(cal.duplicates)} most alike shown" if total > len(cal.duplicates) else ""
        print(f"near-duplicate articles: {total} pairs say nearly the same thing{more} (merge each pair, or make each")
        print("article specific: a question about either finds both, and neither can be answered confidently):")
        for d in cal.duplicates:
            a, b = d["articles"]
            print(f"  {d['similarity']:.3f} by {d['part']}  {a} {d['titles'][0]!r} ~ {b} {d['titles'][1]!r}")
    return 0


def _saved_calibration(path: Path):
    from retrieval.calibration import Calibrator

    try:
        return Calibrator.from_json(path.read_text()) if path.exists() else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _print_before_after(previous, cal) -> None:
    """Before / after a refit: the thresholds, and the coverage at the target precision on each fit's own
    calibration questions (retrieval.calibration.curves)."""
    from retrieval.calibration.curves import coverage_at

    def line(c) -> str:
        thresholds = ", ".join(f"{k}={v:.3f}" for k, v in sorted(c.thresholds.items()))
        cov = coverage_at(c.stats.get("curve") or [], 1.0 - c.target)
        at = f"{cov:.1%}" if cov is not None else "n/a (fitted by an older tier0)"
        return f"thresholds {thresholds}; answers {at} of the covered questions at {1 - c.target:.0%} precision"

    if previous is None:
        print(f"after: {line(cal)} (no calibration before)")
    elif previous.to_json() == cal.to_json():
        print("before = after: the saved calibration is current (--force refits it)")
    else:
        print(f"before: {line(previous)}")
        print(f"after:  {line(cal)}")


def cmd_kb_reindex(args) -> int:
    """Rebuild the search index from scratch, with a progress bar; the calibration is refitted at the next start,
    by `tier0 calibrate` or by a running worker's next refit (#22 BC)."""
    from tqdm import tqdm

    import knowledge_base.models  # noqa: F401  (tables)
    from knowledge_base.service import KnowledgeBase
    from retrieval.embedder import every_core, load_embedders
    from retrieval.search import SearchIndex
    from tier0.db import Database

    settings = _settings(args)
    db = Database(settings.db_url)
    db.migrate()
    kb = KnowledgeBase(db)
    articles, hashes = kb.published(), kb.fingerprint()
    index = SearchIndex(load_embedders(settings.embedding_model, threads=settings.torch_threads), settings.index_dir)
    with every_core(settings.torch_threads), tqdm(total=len(articles), unit="article", desc="reindex") as bar:
        units = index.rebuild(articles, hashes, progress=bar.update)
    print(f"reindexed {len(articles)} published articles ({units} units) with {', '.join(index.model_names)} "
          f"in {settings.index_dir}")
    return 0


def cmd_train(args) -> int:
    from bot.rasa_runtime import trained_model

    settings = _settings(args)
    path = trained_model(settings.models_dir, force=args.force)
    print(f"model: {path}")
    return 0


def _kb_only(settings):
    """The KB on the settings' database, without the search index or any model (export, dry runs)."""
    from knowledge_base.service import KnowledgeBase
    from tier0.db import Database

    db = Database(settings.db_url)
    db.migrate()
    return KnowledgeBase(db)


def cmd_kb_import(args) -> int:
    from bot.services import build_services

    settings = _settings(args)
    path = Path(args.dir)
    if path.is_file() or args.dry_run:  # a zip: all or nothing (knowledge_base.transfer); any dry run: no writes
        return _kb_import_checked(args, settings, path)
    services = build_services(settings, import_sample=False)
    report = services.kb.import_folder(path)
    for err in report.errors:
        print(f"error: {err}", file=sys.stderr)
    print(f"imported {args.dir}: {report.summary()}; {len(services.index)} articles searchable")
    return 0 if report.ok else 1


def cmd_kb_status(args) -> int:
    """`tier0 kb publish|archive|unarchive ID`: the editor console's actions from the shell (#22 A). Running servers
    follow through their KB watcher (the index is synced there, not here)."""
    from knowledge_base.service import KnowledgeBase
    from tier0.db import Database

    settings = _settings(args)
    db = Database(settings.db_url)
    db.create_all()
    kb = KnowledgeBase(db)
    action = {"publish": kb.publish, "archive": kb.archive, "unarchive": kb.unarchive}[args.kb_command]
    art = action(args.id, author=None, note=args.note)
    print(f"{art.id}: {art.status}, version {art.version}")
    return 0


def _kb_import_checked(args, settings, path: Path) -> int:
    """`tier0 kb import FILE.zip` (all or nothing) and `--dry-run` of a zip or a folder."""
    from knowledge_base import transfer
    from tier0.errors import InvalidInput

    limits = transfer.ImportLimits.from_settings(settings)
    if path.is_dir():
        entries, ignored = transfer.read_folder(path, limits)
    elif path.is_file():
        entries, ignored = transfer.read_zip(path.read_bytes(), limits)
    else:
        raise InvalidInput(f"{path}: no such folder or .zip file")
    plan = transfer.plan_import(_kb_only(settings), entries, ignored)
    for problem in plan.errors:
        print(f"error: {problem}", file=sys.stderr)
    if args.dry_run or not plan.ok:
        print(f"{'dry run' if args.dry_run else 'nothing imported'}: {plan.summary()}")
        return 0 if plan.ok else 1
    from bot.services import build_services

    services = build_services(settings, import_sample=False)  # the search index follows the import
    transfer.apply_import(services.kb, plan)
    print(f"imported {path}: {plan.summary()}; {len(services.index)} articles searchable")
    return 0


def cmd_kb_export(args) -> int:
    from knowledge_base import transfer

    settings = _settings(args)
    kb = _kb_only(settings)
    target = Path(args.target)
    if target.suffix.lower() == ".zip":
        data, count = transfer.export_zip(kb, args.status)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    else:
        count = transfer.export_folder(kb, target, args.status)
    print(f"exported {count} articles to {target}")
    return 0


def eval_index_dir(settings, kb_dir: Path) -> Path:
    """Where `tier0 eval` keeps the vector index and calibration of ``kb_dir`` between runs (one folder per KB)."""
    return settings.home / "eval-index" / hashlib.sha256(str(kb_dir.resolve()).encode()).hexdigest()[:12]


async def _eval(settings, kb_dir: Path, cases_path: Path, json_out: Optional[Path]) -> int:
    from bot.evaluation import format_metrics, load_cases, run_cases
    from bot.runtime import build_engine
    from tier0.config import Settings

    cases = load_cases(cases_path)  # fail fast on a bad file, before loading models
    if not kb_dir.is_dir():
        from tier0.errors import InvalidInput

        raise InvalidInput(f"{kb_dir}: not a folder")
    with tempfile.TemporaryDirectory(prefix="tier0-eval-") as tmp:
        # A fresh database per run; the trained Rasa model and the per-KB vector index are reused from home.
        eval_settings = Settings(
            **{
                **settings.dict(),
                "home": Path(tmp),
                "database_url": None,
                "sample_kb": kb_dir,
                "model_cache": settings.models_dir,
                "index_cache": eval_index_dir(settings, kb_dir),
            }
        )
        engine = build_engine(eval_settings, import_sample=True)

        def progress(done, total, secs):
            print(f"  {done}/{total} cases, {secs:.0f}s", file=sys.stderr, flush=True)

        report = await run_cases(engine, cases, progress=progress)
        engine.services.db.dispose()
    print(format_metrics(cases_path.parent.name or cases_path.name, report["metrics"]))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, ensure_ascii=False, indent=1))
        print(f"report: {json_out}")
    return 0


def cmd_desk_check(args) -> int:
    from handoff.deskconfig import load_config

    settings = _settings(args)
    path = Path(args.file) if args.file else settings.desk_config
    cfg = load_config(path)
    levels = sorted({q.level for q in cfg.queues.values()})
    print(f"{path}: ok — {len(cfg.queues)} queues (levels {', '.join(map(str, levels))}), {len(cfg.routes)} routes, "
          f"{len(cfg.webhooks)} webhooks")
    for q in cfg.queues.values():
        esc = ", ".join(f"{k} -> {v}" for k, v in q.escalate.items()) or "top of its path"
        members = ",".join(q.members) or "-"
        print(f"  L{q.level} {q.name:<14} hours={q.hours.name:<9} members={members}  escalate: {esc}")
    return 0


def _agents(args):
    import handoff.agents  # noqa: F401  (tables)
    from handoff.agents import AgentDirectory
    from handoff.deskconfig import load_config
    from tier0.db import Database

    settings = _settings(args)
    cfg = load_config(settings.desk_config)
    db = Database(settings.db_url)
    db.create_all()
    agents = AgentDirectory(db, cfg.queues_of)
    if settings.redis_url:  # the servers end the open desk streams of a disabled agent at once, not at their re-check
        from api.live import LiveHub, RedisBus

        hub = LiveHub()
        hub.bus = RedisBus(settings.redis_url, hub)
        agents.revocations.append(hub.revoke)
    return agents


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from tier0.errors import InvalidInput

        raise InvalidInput("the two passwords differ")
    return first


def cmd_agents(args) -> int:
    agents = _agents(args)
    if args.agents_command == "add":
        view = agents.create(args.username, _read_password(args), role=args.role, display_name=args.name)
        print(f"agent {view.username} ({view.role}) created; queues: {', '.join(view.queues) or 'none yet'}")
    elif args.agents_command == "passwd":
        agents.set_password(args.username, _read_password(args))
        print(f"password of {args.username} changed; their sessions are signed out")
    elif args.agents_command in ("disable", "enable"):
        agents.set_active(args.username, args.agents_command == "enable")
        print(f"{args.username} {args.agents_command}d")
    else:
        for a in agents.list():
            state = "online" if a["online"] else ("active" if a["active"] else "disabled")
            print(f"{a['username']:<20} {a['role']:<6} {state:<8} {','.join(a['queues'])}")
    return 0


def cmd_privacy(args) -> int:
    """`tier0 privacy erase --email ADDR | --conversation ID`, `tier0 privacy purge [--days N]`: one line of counts."""
    import handoff.agents  # noqa: F401  (tables)
    from bot.privacy import privacy_service
    from handoff.deskconfig import load_config
    from handoff.service import HandoffService
    from tier0.clock import SystemClock
    from tier0.conversations import ConversationStore
    from tier0.db import Database
    from tier0.errors import InvalidInput

    settings = _settings(args)
    if args.privacy_command == "erase" and (args.email is None) == (args.conversation is None):
        raise InvalidInput("tier0 privacy erase needs --email ADDR or --conversation ID (one of them)")
    if args.privacy_command == "purge" and args.days is not None and args.days < 0:
        raise InvalidInput("--days must be 0 or more")
    db = Database(settings.db_url)
    try:
        db.migrate()
        clock = SystemClock()
        desk = HandoffService(db, ConversationStore(db), load_config(settings.desk_config), clock)
        service = privacy_service(settings, db, clock, handoff=desk)
        if args.privacy_command == "erase":
            result = service.erase(email=args.email, conversation_id=args.conversation, actor="cli")
        else:
            days = settings.retention_days if args.days is None else args.days
            if days <= 0:
                print("tier0 privacy: retention is off (TIER0_RETENTION_DAYS=0): nothing anonymised")
                return 0
            result = service.purge(days, actor="cli")
            if settings.tracker == "sql":
                from bot.privacy import expire_sql_trackers

                expired = expire_sql_trackers(db, settings.tracker_ttl_s)
                print(f"tier0 privacy: {expired} tracker events of conversations silent for more than "
                      f"{settings.tracker_ttl_s} s deleted (TIER0_TRACKER_TTL_S)")
        print(f"tier0 privacy: {result.summary()}")
        return 0
    finally:
        db.dispose()


def cmd_identity(args) -> int:
    """``tier0 identity sign``: the signature a site must send for these attributes, to check an integration."""
    from tier0 import identity
    from tier0.errors import InvalidInput

    secret = args.secret or _settings(args).identity_secret
    if not secret:
        raise InvalidInput("no identity secret: set TIER0_IDENTITY_SECRET (or pass --secret)")
    customer = {"id": args.id, "email": args.email, "tier": args.tier}
    print(f"signed string: {identity.canonical(customer).decode('utf-8')}")
    print(f"signature:     {identity.sign(secret, customer)}")
    return 0


def cmd_eval(args) -> int:
    settings = _settings(args)
    return asyncio.run(_eval(settings, Path(args.kb), Path(args.cases), Path(args.json) if args.json else None))


def _positive_int(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="tier0", description="Self-hosted tier-0 support assistant.")
    p.add_argument("--home", help="state folder (database, index, models); default $TIER0_HOME or ./var")
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("serve", help="run the web server (chat page, desk, API)")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--workers", type=_positive_int, help="worker processes (default $TIER0_WORKERS or 1; more than "
                   "one needs TIER0_REDIS_URL, and PostgreSQL for real traffic)")
    s.set_defaults(func=cmd_serve)

    pr = sub.add_parser("prepare", help="migrate the database, import the sample KB if empty, build the search "
                        "index and calibration, train the Rasa model: what a worker needs, done once")
    pr.set_defaults(func=cmd_prepare)

    db = sub.add_parser("db", help="the database schema (migrations)")
    dbs = db.add_subparsers(dest="db_command", metavar="DB_COMMAND")
    db.set_defaults(func=cmd_db, db_command="current")
    dbs.add_parser("current", help="where the schema stands (read only)").set_defaults(func=cmd_db)
    dbs.add_parser("upgrade", help="migrate the schema to this tier0's newest revision").set_defaults(func=cmd_db)

    t = sub.add_parser("train", help="train the Rasa model if its inputs changed")
    t.add_argument("--force", action="store_true", help="train even if a cached model matches")
    t.set_defaults(func=cmd_train)

    c = sub.add_parser("calibrate", help="refit the answer calibration if the KB or feedback changed; print it")
    c.add_argument("--force", action="store_true", help="refit even if the saved calibration is current")
    c.set_defaults(func=cmd_calibrate)

    kb = sub.add_parser("kb", help="knowledge base")
    kbs = kb.add_subparsers(dest="kb_command", metavar="KB_COMMAND")
    imp = kbs.add_parser("import", help="import a folder of Markdown articles (idempotent), or a .zip of Markdown "
                         "and HTML articles (all or nothing)")
    imp.add_argument("dir", help="a folder or a .zip file")
    imp.add_argument("--dry-run", action="store_true", help="say what would be created, updated, unchanged and "
                     "which files have errors; write nothing")
    imp.set_defaults(func=cmd_kb_import)
    for verb, text in (("publish", "publish an article's draft (the bot answers from it)"),
                       ("archive", "archive an article (the bot no longer answers from it)"),
                       ("unarchive", "bring an archived article back as a draft")):
        kv = kbs.add_parser(verb, help=text)
        kv.add_argument("id", help="the article's id")
        kv.add_argument("--note", help="kept with the new version")
        kv.set_defaults(func=cmd_kb_status)
    exp = kbs.add_parser("export", help="write the articles as Markdown files, one folder per language")
    exp.add_argument("target", help="a folder, or a file name ending in .zip")
    exp.add_argument("--status", choices=ArticleStatus.values(), help="only articles of this status (default: all)")
    exp.set_defaults(func=cmd_kb_export)
    rei = kbs.add_parser("reindex", help="rebuild the search index from scratch (progress bar)")
    rei.set_defaults(func=cmd_kb_reindex)

    d = sub.add_parser("desk", help="the desk configuration (queues, escalation matrix, SLAs)")
    ds = d.add_subparsers(dest="desk_command", metavar="DESK_COMMAND")
    chk = ds.add_parser("check", help="validate a desk YAML file and print its queues")
    chk.add_argument("file", nargs="?", help="default: $TIER0_DESK_CONFIG or data/desk.yml")
    chk.set_defaults(func=cmd_desk_check)

    ident = sub.add_parser("identity", help="signed customer identities (TIER0_IDENTITY_SECRET)")
    idents = ident.add_subparsers(dest="identity_command", metavar="IDENTITY_COMMAND")
    sig = idents.add_parser("sign", help="print the string a site signs and its signature, to check an integration")
    for attr in ("id", "email", "tier"):
        sig.add_argument(f"--{attr}", help=f"the customer's {attr}, exactly as the page sends it (default: none)")
    sig.add_argument("--secret", help="default: $TIER0_IDENTITY_SECRET")
    sig.set_defaults(func=cmd_identity)

    ag = sub.add_parser("agents", help="desk accounts (agents, leads, admins)")
    ags = ag.add_subparsers(dest="agents_command", metavar="AGENTS_COMMAND")
    ag.set_defaults(func=cmd_agents, agents_command="list")
    ags.add_parser("list", help="accounts, roles, queues").set_defaults(func=cmd_agents)
    add = ags.add_parser("add", help="create an account (queues come from the desk file's members)")
    add.add_argument("username")
    add.add_argument("--role", choices=Role.values(), default=Role.AGENT.value)
    add.add_argument("--name", help="display name shown to customers")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(func=cmd_agents)
    pw = ags.add_parser("passwd", help="set a new password (signs the account out)")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=cmd_agents)
    for verb in ("disable", "enable"):
        v = ags.add_parser(verb, help=f"{verb} an account")
        v.add_argument("username")
        v.set_defaults(func=cmd_agents)

    pv = sub.add_parser("privacy", help="personal data: erase a customer's data, apply the retention period")
    pvs = pv.add_subparsers(dest="privacy_command", metavar="PRIVACY_COMMAND", required=True)
    er = pvs.add_parser("erase", help="erase a customer's personal data (a data-subject request; leaves an audit line)")
    er.add_argument("--email", help="every conversation of the customer with this address")
    er.add_argument("--conversation", help="one conversation, by id")
    er.set_defaults(func=cmd_privacy)
    pu = pvs.add_parser("purge", help="anonymise the conversations idle longer than the retention period now")
    pu.add_argument("--days", type=float, help="this many days instead of $TIER0_RETENTION_DAYS")
    pu.set_defaults(func=cmd_privacy)

    e = sub.add_parser("eval", help="replay a conversation test suite and report metrics")
    e.add_argument("--kb", required=True, help="folder of Markdown articles")
    e.add_argument("--cases", required=True, help="JSON Lines file of conversations")
    e.add_argument("--json", help="write the full report here")
    e.set_defaults(func=cmd_eval)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _logging(args.verbose)
    from tier0.errors import Tier0Error

    try:
        return int(args.func(args) or 0)
    except Tier0Error as e:
        print(f"tier0: error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
