"""Shared set-up of the Open Lines tests: a line, an online operator, a Telegram
channel pointed at a loopback fake Bot API, and helpers to feed updates."""

import json
import os
import unittest

from lxml import etree

from odoo.tests import HttpCase, new_test_user
from odoo.tools.safe_eval import safe_eval

from .fake_telegram import FakeTelegram, load_fixture

WEBHOOK = "/openlines/webhook/%s"
SECRET = "test-secret_123"


class OpenlinesCase(HttpCase):
    """HttpCase: real HTTP for webhooks, crons run in their own (test) cursors."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.fake = FakeTelegram()
        cls.fake.start()
        cls.addClassCleanup(cls.fake.stop)
        cls.operator = new_test_user(
            cls.env,
            login="ol_operator",
            name="Olga Operator",
            groups="base.group_user,openlines_connector.group_openlines_manager",
        )
        cls.line = cls.env["openlines.line"].create({"name": "Test line", "user_ids": [(6, 0, cls.operator.ids)]})
        cls.channel = cls.env["openlines.channel"].create(
            {
                "name": "Test bot",
                "line_id": cls.line.id,
                "channel_type": "telegram",
                "token": cls.fake.token,
                "webhook_secret": SECRET,
                "api_base_url": cls.fake.url,
            }
        )
        cls.webhook_url = WEBHOOK % cls.channel.webhook_key

    def setUp(self):
        super().setUp()
        self.fake.calls.clear()
        self.env["mail.presence"]._update_presence(self.operator)

    def browser_js(self, *args, **kwargs):
        """Odoo skips a browser test when Chromium cannot start; ``make test`` installs
        Chromium and sets ``OPENLINES_REQUIRE_BROWSER=1`` so that a tour that cannot run
        fails instead of hiding a broken UI behind a skip."""
        try:
            return super().browser_js(*args, **kwargs)
        except unittest.SkipTest as exc:
            if os.environ.get("OPENLINES_REQUIRE_BROWSER") == "1":
                self.fail(f"the browser tour could not run: {exc}")
            raise

    # -- helpers -------------------------------------------------------------
    def post_update(self, update, secret=SECRET, url=None):
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        body = update if isinstance(update, (bytes, str)) else json.dumps(update)
        return self.url_open(url or self.webhook_url, data=body, headers=headers)

    #: update ids of generated client messages (distinct from the fixtures' own)
    next_update = 20000

    def client_writes(self, chat_id, text="Здравствуйте"):
        """Client ``chat_id`` writes ``text`` (webhook + processing); return their dialog."""
        type(self).next_update += 1
        self.receive(self.text_update(self.next_update, chat_id, text))
        return self.dialog_of(str(chat_id))

    def text_update(self, update_id, chat_id=1111111, text="Есть ли доставка?"):
        """A text message update from client ``chat_id`` (the ``reply`` fixture, ids changed)."""
        update = self.fixture("reply", update_id)
        update["message"]["message_id"] = update_id
        update["message"]["chat"]["id"] = update["message"]["from"]["id"] = chat_id
        update["message"]["text"] = text
        return update

    def run_cron(self, xmlid):
        self.env.ref(xmlid).method_direct_trigger()
        self.env.invalidate_all()

    def process(self):
        self.run_cron("openlines_connector.ir_cron_openlines_process")

    def send(self):
        self.run_cron("openlines_connector.ir_cron_openlines_send")

    def receive(self, update):
        """Webhook then processing: the full inbound path."""
        response = self.post_update(update)
        self.assertEqual(response.status_code, 200, response.text)
        self.process()
        return response

    def rows(self, direction="in"):
        return self.env["openlines.message"].search(
            [("channel_id", "=", self.channel.id), ("direction", "=", direction)], order="id"
        )

    def dialog_of(self, chat_id="1111111"):
        return self.env["openlines.dialog"].search(
            [("contact_id.external_id", "=", chat_id), ("channel_id", "=", self.channel.id)], order="id desc", limit=1
        )

    @staticmethod
    def fixture(name, update_id=None):
        update = load_fixture(name)
        if update_id is not None:
            update["update_id"] = update_id
        return update

    def client_messages(self, dialog):
        return dialog.discuss_channel_id.message_ids.filtered(lambda m: m.author_id == dialog.partner_id).sorted("id")

    def bare_session(self, operator_partner, name="x"):
        """A live-chat session of the line that no dialog holds (as a site visitor's before any message)."""
        return (
            self.env["discuss.channel"]
            .with_context(openlines_skip_dialog=True)
            .create(
                {
                    "name": name,
                    "channel_type": "livechat",
                    "livechat_channel_id": self.line.livechat_channel_id.id,
                    "livechat_operator_id": operator_partner.id,
                }
            )
        )

    def shop_bot(self):
        """Put a two-step chatbot on the line: a question offering Buy / Support, then "Your name, please?"."""
        script = self.env["chatbot.script"].create(
            {
                "title": "Shop bot",
                "script_step_ids": [
                    (0, 0, {"step_type": "question_selection", "message": "What do you need?",
                            "answer_ids": [(0, 0, {"name": "Buy"}), (0, 0, {"name": "Support"})]}),
                    (0, 0, {"step_type": "free_input_single", "message": "Your name, please?"}),
                ],
            }
        )  # fmt: skip
        self.line.chatbot_script_id = script
        return script

    def operator_reply(self, dialog, text, attachments=None, user=None):
        user = user or self.operator
        return dialog.discuss_channel_id.with_user(user).message_post(
            body=text,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            attachments=attachments or [],
        )


def rows_as_listed(env, action_xmlid, domain=()):
    """What the list view of window action ``action_xmlid`` shows to ``env.user``.

    Loads the action and its list view as the user's web client does
    (``get_views``), reads the rows with ``web_search_read`` limited to the
    fields the view displays, and evaluates the row decorations of the
    ``<list>`` element on each row.  Returns a list of ``(values, decorations)``:
    ``values`` maps each displayed field to what the client receives
    (``display_name`` for a many2one), ``decorations`` is the set of the
    decoration names (``"danger"``, ``"warning"``...) whose condition holds.
    """
    action = env["ir.actions.act_window"]._for_xml_id(action_xmlid)
    model = env[action["res_model"]]
    list_view = next(view_id for view_id, mode in action["views"] if mode == "list")
    arch = model.get_views([(list_view, "list")])["views"]["list"]["arch"]
    root = etree.fromstring(arch)
    shown = [node.get("name") for node in root.iter("field") if node.get("column_invisible") not in ("1", "True")]
    spec = {
        name: ({"fields": {"display_name": {}}} if model._fields[name].type == "many2one" else {}) for name in shown
    }
    records = model.web_search_read(list(domain), spec)["records"]
    decorations = {
        attr.removeprefix("decoration-"): expr for attr, expr in root.attrib.items() if attr.startswith("decoration-")
    }
    rows = []
    for record in records:
        context = {name: (value["id"] if isinstance(value, dict) else value) for name, value in record.items()}
        values = {name: (value["display_name"] if isinstance(value, dict) else value) for name, value in record.items()}
        rows.append((values, {name for name, expr in decorations.items() if safe_eval(expr, context)}))
    return rows
