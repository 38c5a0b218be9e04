"""Rasa in-process: training (cached by the hash of its inputs), loading the Agent, running custom actions
without an action server, and collecting a turn's messages whole.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

log = logging.getLogger("tier0.rasa")

PROJECT_DIR = Path(__file__).resolve().parent
TRAINING_INPUTS = ("config.yml", "domain.yml", "data", "nlu_components.py")
_structlog_done = False


def quiet_rasa() -> None:
    """Telemetry off, Rasa / TensorFlow logging at WARNING."""
    os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("LOG_LEVEL_LIBRARIES", "WARNING")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    for name in ("rasa", "rasa_sdk", "tensorflow", "absl", "sanic", "apscheduler", "py.warnings"):
        logging.getLogger(name).setLevel(logging.WARNING)
    global _structlog_done
    if not _structlog_done:
        try:
            from rasa.utils.log_utils import configure_structlog

            configure_structlog(logging.WARNING)
        except ImportError:  # pragma: no cover
            pass
        _structlog_done = True


def training_files(project: Path = PROJECT_DIR) -> List[Path]:
    files: List[Path] = []
    for name in TRAINING_INPUTS:
        p = project / name
        files.extend(sorted(x for x in p.rglob("*") if x.is_file()) if p.is_dir() else [p])
    return files


def model_fingerprint(project: Path = PROJECT_DIR) -> str:
    import rasa

    h = hashlib.sha256(f"rasa {rasa.__version__}\n".encode())
    for f in training_files(project):
        h.update(str(f.relative_to(project)).encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def trained_model(models_dir: Path, project: Path = PROJECT_DIR, force: bool = False) -> Path:
    """Path of the model for the current inputs, training it first if no cached model matches."""
    quiet_rasa()
    models_dir = Path(models_dir)
    name = f"tier0-{model_fingerprint(project)}"
    path = models_dir / f"{name}.tar.gz"
    if path.exists() and not force:
        return path
    from rasa.model_training import train

    models_dir.mkdir(parents=True, exist_ok=True)
    log.warning("rasa.training model=%s (inputs changed or no cached model)", name)
    result = train(
        domain=str(project / "domain.yml"),
        config=str(project / "config.yml"),
        training_files=[str(project / "data")],
        output=str(models_dir),
        fixed_model_name=name,
        force_training=True,
    )
    if result.code != 0 or not result.model:
        from tier0.errors import NotReady

        raise NotReady(f"Rasa training failed (code {result.code})")
    for old in models_dir.glob("tier0-*.tar.gz"):  # keep the cache to the current model
        if old != path:
            old.unlink(missing_ok=True)
    return path


def _make_in_process_endpoint():
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig
    from rasa_sdk.executor import ActionExecutor

    class InProcessActionEndpoint(EndpointConfig):
        """An action 'endpoint' that runs the rasa-sdk actions of bot.actions in this process."""

        in_process = True

        def __init__(self) -> None:
            super().__init__(url="in-process://tier0")
            self.executor = ActionExecutor()
            self.executor.register_package("bot.actions")

        async def request(self, method: str = "post", subpath: Optional[str] = None, content_type=None, **kwargs):
            return await self.executor.run(kwargs["json"])

    # The JSON-schema check of every action response exists for untrusted HTTP action servers; in-process
    # responses come from rasa_sdk's own serialiser (events already validated by the executor), and the check
    # cost most of a knowledge-base turn. Skip it for this endpoint only.
    original = RemoteAction._validate_action_result

    def _validate(self, result: Dict[str, Any]) -> bool:
        if getattr(self.action_endpoint, "in_process", False):
            return True
        return original(self, result)

    if not getattr(RemoteAction, "_tier0_patched", False):
        RemoteAction._validate_action_result = _validate
        RemoteAction._tier0_patched = True
    return InProcessActionEndpoint()


def load_agent(model_path: Path):
    quiet_rasa()
    from rasa.core.agent import Agent

    agent = Agent.load(str(model_path), action_endpoint=_make_in_process_endpoint())
    quiet_rasa()
    return agent


def collecting_channel():
    from rasa.core.channels.channel import CollectingOutputChannel

    class TurnCollector(CollectingOutputChannel):
        """Keeps each bot message whole (text, buttons and our custom payload together)."""

        @classmethod
        def name(cls) -> str:
            return "tier0"

        async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
            self.messages.append(dict(message, recipient_id=recipient_id))

    return TurnCollector()
