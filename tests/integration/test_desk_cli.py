"""`tier0 desk check` and `tier0 agents ...` against a real SQLite file: exit codes and one-line errors."""

import io
import sys

from cli.main import main


def run(capsys, monkeypatch, argv, stdin=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_desk_check(capsys, monkeypatch, tmp_path):
    code, out, _ = run(capsys, monkeypatch, ["desk", "check"])
    assert code == 0 and "tier1" in out and "escalate: functional -> specialists" in out
    bad = tmp_path / "desk.yml"
    bad.write_text("queues:\n  t1: {level: 7}\nroutes: [{queue: t1}]\n")
    code, _, err = run(capsys, monkeypatch, ["desk", "check", str(bad)])
    assert code == 2 and err.strip() == f"tier0: error: {bad}: queues.t1.level: must be 1, 2 or 3, not 7"


def test_agent_accounts(capsys, monkeypatch, tmp_path):
    home = ["--home", str(tmp_path)]
    code, out, _ = run(capsys, monkeypatch, home + ["agents", "add", "alice", "--password-stdin"], "a long password\n")
    assert code == 0 and "queues: tier1" in out
    code, _, err = run(capsys, monkeypatch, home + ["agents", "add", "alice", "--password-stdin"], "a long password\n")
    assert code == 2 and "already exists" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, monkeypatch, home + ["agents", "add", "bob", "--password-stdin"], "short\n")
    assert code == 2 and "at least 10 characters" in err
    code, out, _ = run(capsys, monkeypatch, home + ["agents", "disable", "alice"])
    assert code == 0
    code, out, _ = run(capsys, monkeypatch, home + ["agents"])
    assert "alice" in out and "disabled" in out and "bob" not in out
    assert run(capsys, monkeypatch, home + ["agents", "enable", "nobody"])[0] == 2
