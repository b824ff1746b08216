"""The local SMTP sink of `make run` (cowork.devstack.mailsink): a real process that accepts
mail and leaves each message as an .eml file a person can open."""

from __future__ import annotations

import asyncio
import dataclasses
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest

from cowork.devstack import mailsink
from cowork.devstack.stack import StackConfig
from cowork.devtools import free_port


async def test_the_sink_writes_every_message_as_an_eml_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("COWORK_SMTP_PORT", str(port))
    cfg = dataclasses.replace(StackConfig.from_env(), state_dir=tmp_path)
    folder = await asyncio.to_thread(mailsink.start, cfg)
    try:
        assert folder == tmp_path / "mail"
        message = EmailMessage()
        message["From"], message["To"] = "noreply@cowork.localhost", "anna@example.org"
        message["Subject"] = "Prenotazione confermata"
        message.set_content("Ciao Anna")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=5)
        [eml] = list(folder.glob("*.eml"))
        kept = message_from_bytes(eml.read_bytes(), policy=policy.default)
        assert kept["Subject"] == "Prenotazione confermata"
        assert kept.get_content().strip() == "Ciao Anna"
    finally:
        mailsink.stop(cfg)
