"""A client writes to the Telegram bot, an operator answers: real Odoo over real HTTP.

Odoo runs as its own process with a cron thread; Telegram is played by a
loopback server that speaks the Bot API.
"""

import json

import pytest
import requests
from fake_telegram import FakeTelegram, load_fixture

SECRET = "e2e-secret_42"


@pytest.fixture(scope="module")
def telegram():
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture(scope="module")
def channel(odoo_server, telegram):
    admin = odoo_server.uid
    line_id = odoo_server.call("openlines.line", "create", {"name": "E2E line", "user_ids": [(6, 0, [admin])]})
    channel_id = odoo_server.call(
        "openlines.channel",
        "create",
        {
            "name": "E2E bot",
            "line_id": line_id,
            "channel_type": "telegram",
            "token": telegram.token,
            "webhook_secret": SECRET,
            "api_base_url": telegram.url,
        },
    )
    [values] = odoo_server.call("openlines.channel", "read", [channel_id], ["webhook_key"])
    return {"id": channel_id, "line_id": line_id, "url": f"{odoo_server.url}/openlines/webhook/{values['webhook_key']}"}


def post(channel, update, secret=SECRET):
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    body = update if isinstance(update, bytes) else json.dumps(update)
    return requests.post(channel["url"], data=body, headers=headers, timeout=10)


def dialog_messages(odoo_server, dialog):
    return odoo_server.call(
        "mail.message",
        "search_read",
        [
            ("model", "=", "discuss.channel"),
            ("res_id", "=", dialog["discuss_channel_id"][0]),
            ("message_type", "=", "comment"),
        ],
        ["body", "author_id"],
        order="id",
    )


def test_client_message_reaches_discuss_and_the_answer_reaches_telegram(odoo_server, channel, telegram):
    update = load_fixture("reply")
    for _i in range(3):  # Telegram redelivers: one message only
        assert post(channel, update).status_code == 200

    def dialog():
        found = odoo_server.call(
            "openlines.dialog",
            "search_read",
            [("channel_id", "=", channel["id"])],
            ["discuss_channel_id", "state", "partner_id"],
        )
        return found and dialog_messages(odoo_server, found[0]) and found[0]

    found = odoo_server.wait_for(dialog, what="the dialog in Discuss (processing cron)")
    messages = dialog_messages(odoo_server, found)
    from_client = [m for m in messages if m["author_id"][0] == found["partner_id"][0]]
    assert len(from_client) == 1
    assert "доставка в Казань" in from_client[0]["body"]
    assert from_client[0]["author_id"][1] == "Test Test Lastname"
    assert "in the queue" in messages[-1]["body"], "nobody online: the line tells the client, after its message"

    odoo_server.call("openlines.dialog", "action_take", [found["id"]])
    odoo_server.call(
        "discuss.channel",
        "message_post",
        [found["discuss_channel_id"][0]],
        body="Да, доставляем за 2 дня",
        message_type="comment",
        subtype_xmlid="mail.mt_comment",
    )
    answer = "Да, доставляем за 2 дня"

    def answer_sent():
        return [c for c in telegram.calls_of("sendMessage") if c["text"] == answer]

    sent = odoo_server.wait_for(answer_sent, what="sendMessage (sending cron)")
    assert len(sent) == 1
    assert str(sent[0]["chat_id"]) == "1111111"
    assert "in the queue" in telegram.calls_of("sendMessage")[0]["text"], "the queue text went first"


def test_bad_requests_get_clear_answers_and_write_nothing(odoo_server, channel):
    assert post(channel, load_fixture("text"), secret="forged").status_code == 403
    assert post(channel, b'{"update_id": ').status_code == 400
    unknown = dict(channel, url=channel["url"][:-10] + "0123456789")
    assert post(unknown, load_fixture("text")).status_code == 404
    rows = odoo_server.call(
        "openlines.message", "search_count", [("external_id", "=", "10000"), ("channel_id", "=", channel["id"])]
    )
    assert rows == 0
    assert "Traceback" not in odoo_server.log.read_text()


def test_unknown_update_kinds_are_acknowledged(odoo_server, channel):
    assert post(channel, {"update_id": 990001, "business_connection": {"id": "x"}}).status_code == 200
    row = odoo_server.wait_for(
        lambda: odoo_server.call(
            "openlines.message", "search_read", [("external_id", "=", "990001"), ("state", "!=", "pending")], ["state"]
        ),
        what="the ignored update",
    )
    assert row[0]["state"] == "ignored"
