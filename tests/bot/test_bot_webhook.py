"""Webhook mode: the bot registers its URL and secret, and refuses updates without the secret."""

from __future__ import annotations

import socket

import httpx
from bot_fixtures import bot_index, clean_bot_env, start_bot, tg  # noqa: F401 (pytest fixtures)
from tg_updates import ALICE, send

LOPEZ = "What did Lopez say about the lake on Mars?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_mode_answers_updates_posted_with_the_secret(tg, start_bot) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    bot = start_bot(webhook_url=url, webhook_secret="s3cret-token_1",
                    webhook_listen="127.0.0.1", webhook_port=port)
    registered = tg.wait_for("setWebhook")
    assert registered.params["url"] == url
    assert registered.params["secret_token"] == "s3cret-token_1"
    assert not tg.calls_to("deleteWebhook")

    bot.wait_done(send(tg, ALICE, LOPEZ)[0])  # the fake server POSTs it to the webhook
    assert "said Maria Lopez" in tg.sent_texts(ALICE.id)[-1]

    update = {"update_id": 999, "message": {"message_id": 1, "date": 0, "text": "hi",
                                            "chat": ALICE.private_chat, "from": ALICE.to_dict()}}
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        response = httpx.post(url, json=update, headers=headers, timeout=10)
        assert response.status_code == 403
