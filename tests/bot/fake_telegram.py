"""A small Bot API server for tests: real HTTP on 127.0.0.1, in its own thread and event loop.

The bot under test reaches it through ``TELEGRAM_API_BASE_URL`` exactly as it reaches Telegram:
``POST {base_url}{token}/{method}`` with form-encoded parameters (JSON for complex values).
It implements the methods the bot uses, records every call, and behaves like Telegram where it
matters to us:

* ``getUpdates`` long-polls a queue that tests push updates into (``offset`` confirms);
  after ``setWebhook`` updates are POSTed to the webhook instead, with the secret header;
* 400 ``message is too long`` over 4096 UTF-16 units (counted after HTML parsing, as Telegram
  does), 400 ``can't parse entities`` on unbalanced or unknown HTML tags and stray ``<``/``&``,
  400 ``BUTTON_DATA_INVALID`` on callback_data over 64 bytes, 400 ``message is not modified``;
* ``getChatMember``: "administrator" for the users in :attr:`chat_admins`, else "member";
* 401 for a wrong token, 404 for unknown methods, and any error on demand (:meth:`fail_next`),
  e.g. 429 with ``retry_after``;
* outages on demand: a method (or all of them) failing with a status, or dropping the
  connection, for some seconds or some calls (:meth:`fail`, :meth:`drop`), and the whole server
  refusing connections for a while (:meth:`refuse`).

:meth:`sent_texts` and :meth:`replies` show each message as it reads now, after any edits.

The checks themselves are in ``telegram_rules.py``, update builders in ``tg_updates.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, web

from telegram_rules import ApiError, check_markup, check_text

# Parameters that PTB sends JSON-encoded.
_JSON_PARAMS = {"reply_markup", "reply_parameters", "link_preview_options", "results",
                "commands", "allowed_updates", "scope", "button", "entities"}

@dataclass
class Call:
    """One request the bot made: method, decoded parameters, and what it got back."""

    method: str
    params: dict[str, Any]
    status: int = 200  # 0: the connection was dropped without an answer
    result: Any = None
    error: str | None = None
    at: float = field(default_factory=time.monotonic)  # when it arrived

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass
class Fault:
    """Calls that fail on purpose: with an HTTP error, or (``status`` None) by dropping the
    connection without an answer. Active for ``calls`` calls and/or until ``until``
    (``time.monotonic()``); ``methods`` None means every method but getUpdates."""

    methods: frozenset[str] | None
    status: int | None
    description: str = ""
    retry_after: int | None = None
    until: float | None = None
    calls: int | None = None

    def active(self, now: float) -> bool:
        return (self.until is None or now < self.until) and (self.calls is None or self.calls > 0)

    def matches(self, method: str) -> bool:
        return method in self.methods if self.methods is not None else method != "getUpdates"


@dataclass
class _Webhook:
    url: str
    secret: str | None


@dataclass
class FakeTelegram:
    """The server. ``start()`` it, point the bot at :attr:`base_url`, push updates, then
    ``wait_for`` the calls the bot makes in answer."""

    token: str
    bot_username: str = "newsbot_test_bot"
    bot_id: int = 777000111
    calls: list[Call] = field(default_factory=list)
    chats: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    commands: list[dict[str, Any]] = field(default_factory=list)
    webhook: _Webhook | None = None
    #: chat id → user ids of its administrators (getChatMember answers "administrator" for
    #: them, "member" for everyone else).
    chat_admins: dict[int, set[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cv = threading.Condition()
        self._ids = itertools.count(1000)
        self._update_ids = itertools.count(1)
        self._updates: list[dict[str, Any]] = []
        self._faults: list[Fault] = []
        self._refusing = False
        self._site: web.TCPSite | None = None
        self._runner: web.AppRunner | None = None
        # (chat_id, message_id) → the text (as the bot sent it, HTML included) after any edits
        self._texts: dict[tuple[int, int], str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # ---------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "News Bot",
                "username": self.bot_username}

    def start(self) -> FakeTelegram:
        ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Telegram server did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._main(ready))
        self._loop.close()

    async def _main(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        self._new_update = asyncio.Event()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._site, self._runner = site, runner
        self._client = ClientSession()
        ready.set()
        await self._stopping.wait()
        self._new_update.set()  # release long polls
        await self._client.close()
        await runner.cleanup()

    def stop(self) -> None:
        if self._loop and self._thread and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join(10)

    # ---------------------------------------------------------------- test side

    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (or POST it to the webhook); returns its update_id."""
        update = {"update_id": next(self._update_ids), **update}
        for key in ("message", "edited_message", "channel_post"):
            if key in update:
                chat = update[key]["chat"]
                self.chats[chat["id"]] = chat
                self.messages[(chat["id"], update[key]["message_id"])] = update[key]
        assert self._loop is not None
        if self.webhook is not None:
            future = asyncio.run_coroutine_threadsafe(self._post_webhook(update), self._loop)
            future.result(10)
        else:
            self._loop.call_soon_threadsafe(self._queue_update, update)
        return update["update_id"]

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """What a user deleting one of the bot's messages does."""
        del self.messages[(chat_id, message_id)]

    def next_message_id(self) -> int:
        return next(self._ids)

    def fail_next(self, method: str, status: int, description: str,
                  retry_after: int | None = None) -> None:
        """Make the next call of ``method`` fail with this error (once)."""
        self.fail(method, status, description, calls=1, retry_after=retry_after)

    def fail(self, methods: str | tuple[str, ...] | None, status: int, description: str = "",
             *, seconds: float | None = None, calls: int | None = None,
             retry_after: int | None = None) -> Fault:
        """Answer calls of ``methods`` (None: every method but getUpdates) with ``status`` for
        ``seconds`` and/or ``calls`` calls (neither: until :meth:`heal`)."""
        return self._add_fault(methods, status, description, seconds, calls, retry_after)

    def drop(self, methods: str | tuple[str, ...] | None, *, seconds: float | None = None,
             calls: int | None = None) -> Fault:
        """Close the connection of calls of ``methods`` without an answer (a reset)."""
        return self._add_fault(methods, None, "connection dropped", seconds, calls, None)

    def _add_fault(self, methods: str | tuple[str, ...] | None, status: int | None,
                   description: str, seconds: float | None, calls: int | None,
                   retry_after: int | None) -> Fault:
        names = frozenset([methods] if isinstance(methods, str) else methods) if methods else None
        until = time.monotonic() + seconds if seconds is not None else None
        fault = Fault(names, status, description or f"HTTP {status}", retry_after, until, calls)
        with self._cv:
            self._faults.append(fault)
        return fault

    def heal(self) -> None:
        """End every fault window now."""
        with self._cv:
            self._faults.clear()

    def refuse(self, seconds: float) -> None:
        """Stop listening for ``seconds`` (new connections are refused) and drop every request
        on connections already open; then listen on the same port again."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(self._refuse(seconds), self._loop).result(10)

    async def _refuse(self, seconds: float) -> None:
        assert self._site is not None and self._runner is not None
        self._refusing = True
        await self._site.stop()
        self._loop.call_later(seconds, lambda: asyncio.ensure_future(self._listen_again()))

    async def _listen_again(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await self._site.start()
        self._refusing = False

    def _fault_for(self, method: str) -> Fault | None:
        now = time.monotonic()
        with self._cv:
            self._faults = [f for f in self._faults if f.active(now)]
            fault = next((f for f in self._faults if f.matches(method)), None)
            if fault is not None and fault.calls is not None:
                fault.calls -= 1
            return fault

    def wait_for(self, method: str, match: Callable[[Call], bool] = lambda c: True,
                 timeout: float = 15, ok: bool | None = True, **params: Any) -> Call:
        """The first recorded call of ``method`` matching ``params`` (compared as strings)
        and ``match``; waits for it. ``ok`` filters on success (None: either)."""
        def find() -> Call | None:
            for call in self.calls:
                if call.method != method or (ok is not None and (call.error is None) != ok):
                    continue
                same = all(str(call.params.get(k)) == str(v) for k, v in params.items())
                if same and match(call):
                    return call
            return None

        with self._cv:
            found = self._cv.wait_for(find, timeout)
        if found is None:
            seen = "\n".join(f"  {c.method} {c.params} -> {c.error or 'ok'}" for c in self.calls)
            raise AssertionError(f"no {method} {params} within {timeout}s; calls:\n{seen}")
        return found

    def calls_to(self, method: str, **params: Any) -> list[Call]:
        with self._cv:
            return [c for c in self.calls if c.method == method and c.error is None
                    and all(str(c.params.get(k)) == str(v) for k, v in params.items())]

    def replies(self, message: dict[str, Any]) -> list[str]:
        """Texts the bot sent in reply to ``message``, in order, as they read now (edited)."""
        sent = self.calls_to("sendMessage", chat_id=message["chat"]["id"])
        return [self._now(c) for c in sent if self._exists(c)
                and (c.get("reply_parameters") or {}).get("message_id") == message["message_id"]]

    def sent_texts(self, chat_id: int) -> list[str]:
        """Texts of the messages the bot sent to ``chat_id``, in order, as they read now: a
        message the bot edited shows its latest text, one it deleted is left out."""
        return [self._now(c) for c in self.calls_to("sendMessage", chat_id=chat_id)
                if self._exists(c)]

    def _exists(self, call: Call) -> bool:
        """False for a message the bot deleted."""
        return (call.result["chat"]["id"], call.result["message_id"]) in self.messages

    def _now(self, call: Call) -> str:
        key = (call.result["chat"]["id"], call.result["message_id"])
        return self._texts.get(key, call.params["text"])

    # ---------------------------------------------------------------- server side

    def _queue_update(self, update: dict[str, Any]) -> None:
        self._updates.append(update)
        self._new_update.set()

    async def _post_webhook(self, update: dict[str, Any]) -> None:
        assert self.webhook is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook.secret or ""}
        async with self._client.post(self.webhook.url, json=update, headers=headers) as resp:
            if resp.status != 200:
                raise AssertionError(f"webhook answered {resp.status}")

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        form = await request.post()
        params = {k: json.loads(v) if k in _JSON_PARAMS else v for k, v in form.items()
                  if isinstance(v, str)}
        call = Call(method, params)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            fault = None if self._refusing else self._fault_for(method)
            if self._refusing or (fault is not None and fault.status is None):
                call.status, call.error = 0, "connection dropped"
                with self._cv:
                    self.calls.append(call)
                    self._cv.notify_all()
                assert request.transport is not None
                request.transport.abort()
                return web.Response()
            if fault is not None:
                assert fault.status is not None
                raise ApiError(fault.status, fault.description, fault.retry_after)
            handler = getattr(self, f"_api_{method}", None)
            if handler is None:
                raise ApiError(404, "Not Found")
            call.result = await handler(params)
            body: dict[str, Any] = {"ok": True, "result": call.result}
        except ApiError as err:
            call.status, call.error, body = err.status, err.description, err.body()
        if method != "getUpdates" or call.result:  # empty polls would only add noise
            with self._cv:
                self.calls.append(call)
                self._cv.notify_all()
        return web.json_response(body, status=call.status)

    # Bot API methods. Each gets the decoded parameters and returns the "result".

    async def _api_getMe(self, p: dict[str, Any]) -> Any:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": True}

    async def _api_getUpdates(self, p: dict[str, Any]) -> Any:
        offset = int(p.get("offset", 0))
        self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(p.get("timeout", 0))
        while not self._updates and not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), remaining)
            except TimeoutError:
                break
        return self._updates[: int(p.get("limit", 100))]

    async def _api_deleteWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _api_setWebhook(self, p: dict[str, Any]) -> Any:
        self.webhook = _Webhook(p["url"], p.get("secret_token"))
        return True

    async def _api_setMyCommands(self, p: dict[str, Any]) -> Any:
        for command in p["commands"]:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command["command"]):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"]) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = p["commands"]
        return True

    async def _api_getMyCommands(self, p: dict[str, Any]) -> Any:
        return self.commands

    async def _api_sendChatAction(self, p: dict[str, Any]) -> Any:
        self._chat(p)
        return True

    async def _api_leaveChat(self, p: dict[str, Any]) -> Any:
        self._chat(p)
        return True

    async def _api_getChatMember(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p)
        user_id = int(p.get("user_id", 0))
        user = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"}
        if user_id not in self.chat_admins.get(chat["id"], set()):
            return {"status": "member", "user": user}
        rights = ("can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
                  "can_manage_video_chats", "can_restrict_members", "can_promote_members",
                  "can_change_info", "can_invite_users", "can_post_stories", "can_edit_stories",
                  "can_delete_stories")
        return {"status": "administrator", "user": user, **{r: False for r in rights}}

    async def _api_answerCallbackQuery(self, p: dict[str, Any]) -> Any:
        if len(p.get("text", "")) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _api_answerInlineQuery(self, p: dict[str, Any]) -> Any:
        results = p["results"]
        if len(results) > 50 or len({r["id"] for r in results}) != len(results):
            raise ApiError(400, "Bad Request: RESULTS_TOO_MUCH or duplicate ids")
        for result in results:
            if not 1 <= len(result["id"].encode()) <= 64:
                raise ApiError(400, "Bad Request: RESULT_ID_INVALID")
            content = result.get("input_message_content", {})
            check_text(content.get("message_text", "x"), content.get("parse_mode"))
            check_markup(result.get("reply_markup"))
        return True

    async def _api_sendMessage(self, p: dict[str, Any]) -> Any:
        chat = self._chat(p)
        text = check_text(p.get("text", ""), p.get("parse_mode"))
        check_markup(p.get("reply_markup"))
        message = {"message_id": self.next_message_id(), "date": int(time.time()), "chat": chat,
                   "from": self.bot_user, "text": text}
        if p.get("reply_markup"):
            message["reply_markup"] = p["reply_markup"]
        reply_to = (p.get("reply_parameters") or {}).get("message_id")
        if reply_to and (chat["id"], int(reply_to)) in self.messages:
            message["reply_to_message"] = self.messages[(chat["id"], int(reply_to))]
        self.messages[(chat["id"], message["message_id"])] = message
        self._texts[(chat["id"], message["message_id"])] = p.get("text", "")
        return message

    async def _api_editMessageText(self, p: dict[str, Any]) -> Any:
        message = self._message(p)
        text = check_text(p.get("text", ""), p.get("parse_mode"))
        check_markup(p.get("reply_markup"))
        if text == message["text"] and p.get("reply_markup") == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        message.update(text=text, edit_date=int(time.time()))
        if p.get("reply_markup"):  # an edit without a keyboard removes the old one
            message["reply_markup"] = p["reply_markup"]
        else:
            message.pop("reply_markup", None)
        self._texts[(message["chat"]["id"], message["message_id"])] = p.get("text", "")
        return message

    async def _api_deleteMessage(self, p: dict[str, Any]) -> Any:
        message = self._message(p)
        del self.messages[(message["chat"]["id"], message["message_id"])]
        return True

    async def _api_editMessageReplyMarkup(self, p: dict[str, Any]) -> Any:
        message = self._message(p)
        markup = p.get("reply_markup")
        check_markup(markup)
        if markup == message.get("reply_markup"):
            raise ApiError(400, "Bad Request: message is not modified")
        if markup:
            message["reply_markup"] = markup
        else:
            message.pop("reply_markup", None)
        return message

    async def _api_close(self, p: dict[str, Any]) -> Any:
        return True

    # Checks shared by the methods above.

    def _chat(self, p: dict[str, Any]) -> dict[str, Any]:
        chat = self.chats.get(int(p.get("chat_id", 0)))
        if chat is None:
            raise ApiError(400, "Bad Request: chat not found")
        return chat

    def _message(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get((int(p.get("chat_id", 0)), int(p.get("message_id", 0))))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        return message
