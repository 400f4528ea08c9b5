import json
import logging
import secrets

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL

from ..connectors.base import REGISTRY, ConnectorError, get_connector
from ..tools import notify_after_commit, trigger_sql, wake_cron
from ..tools.conversation import conversation_of
from .openlines_message import INBOUND_CHANNEL, INBOUND_HELPERS

_logger = logging.getLogger(__name__)

ADMIN = "openlines_connector.group_openlines_admin"

#: every messenger the product knows; a type is usable once its connector is registered
CHANNEL_TYPES = [
    ("telegram", "Telegram"),
    ("vk", "VK"),
    ("ok", "Odnoklassniki"),
    ("avito", "Avito"),
    ("whatsapp", "WhatsApp"),
    ("viber", "Viber"),
    ("messenger", "Facebook Messenger"),
    ("instagram", "Instagram"),
    ("apple", "Apple Messages for Business"),
]

#: credentials and settings handed to the connector (besides token, secret and API address)
CONNECTOR_SETTINGS = (
    "verify_token",
    "vk_group_id",
    "vk_confirmation_code",
    "avito_client_id",
    "avito_client_secret",
    "avito_user_id",
    "wa_phone_number_id",
    "meta_page_id",
    "sender_name",
    "apple_business_id",  # fields of openlines_channel_apple.py
    "apple_msp_id",
)


#: settings that are credentials: stripped from stored payloads
SECRET_SETTINGS = ("verify_token", "vk_confirmation_code", "avito_client_secret")
#: what replaces a credential in a stored payload
SCRUBBED = "[secret removed]"


def scrub_secrets(value, secrets):
    """``value`` (decoded JSON) with every occurrence of ``secrets`` replaced by :data:`SCRUBBED`."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, SCRUBBED)
        return value
    if isinstance(value, dict):
        return {key: scrub_secrets(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub_secrets(item, secrets) for item in value]
    return value


def _new_key(*_args):
    return secrets.token_urlsafe(32)


class OpenlinesChannel(models.Model):
    """One connection of a line to one messenger account (a Telegram bot...)."""

    _name = "openlines.channel"
    _description = "Open Lines channel"
    _inherit = ["mail.thread"]
    _order = "line_id, sequence, id"

    name = fields.Char(required=True, tracking=True)
    active = fields.Boolean(default=True)
    sequence = fields.Integer(default=10)
    line_id = fields.Many2one(
        "openlines.line", string="Open Line", required=True, ondelete="restrict", index=True, tracking=True
    )
    company_id = fields.Many2one(related="line_id.company_id", store=True, index=True, precompute=True)
    channel_type = fields.Selection(CHANNEL_TYPES, string="Messenger", required=True, default="telegram", tracking=True)
    token = fields.Char(
        groups=ADMIN, copy=False, help="The bot's access token, as the messenger gave it (e.g. Telegram's @BotFather)."
    )
    webhook_secret = fields.Char(
        groups=ADMIN,
        copy=False,
        default=_new_key,
        help="Shared secret the messenger sends with every webhook request; requests without it are refused.",
    )
    verify_token = fields.Char(
        groups=ADMIN,
        copy=False,
        default=_new_key,
        help="Token the messenger sends when it checks the webhook address (WhatsApp, Facebook, Instagram).",
    )
    vk_group_id = fields.Char("VK community ID", help="The numeric ID of the VK community (without the minus).")
    vk_confirmation_code = fields.Char(
        "VK confirmation string",
        groups=ADMIN,
        copy=False,
        help="The string VK's Callback API settings ask the server to return.",
    )
    avito_client_id = fields.Char("Avito client ID", groups=ADMIN, copy=False)
    avito_client_secret = fields.Char("Avito client secret", groups=ADMIN, copy=False)
    avito_user_id = fields.Char("Avito account ID", help="The numeric ID of the Avito account (profile) that sells.")
    wa_phone_number_id = fields.Char("WhatsApp phone number ID", help="From the WhatsApp Business Cloud API settings.")
    meta_page_id = fields.Char(
        "Facebook page ID", help="The page (or Instagram business account) that receives messages."
    )
    sender_name = fields.Char(
        "Sender name",
        help="Name shown to clients with each message, where the messenger shows one (Viber: 28 characters).",
    )
    webhook_key = fields.Char(
        copy=False,
        readonly=True,
        default=_new_key,
        groups=ADMIN,
        help="Random part of the webhook address; whoever knows it can reach the webhook.",
    )
    webhook_url = fields.Char(
        "Webhook URL", compute="_compute_webhook_url", groups=ADMIN, help="The address the messenger calls."
    )
    api_base_url = fields.Char(
        "API address",
        compute="_compute_api_base_url",
        store=True,
        readonly=False,
        help="Base address of the messenger's API. Change it only for a proxy or a test server.",
    )
    receive_mode = fields.Selection(
        [("webhook", "Webhook"), ("polling", "Polling")],
        default="webhook",
        required=True,
        help="Webhook: the messenger calls this Odoo (it must be reachable over HTTPS). "
        "Polling: Odoo asks the messenger for new messages every minute (for servers the messenger cannot reach).",
    )
    state = fields.Selection(
        [("draft", "Not connected"), ("connected", "Connected"), ("error", "Error")],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
    )
    last_error = fields.Text(readonly=True, copy=False)
    account_name = fields.Char("Account", readonly=True, copy=False, help="The messenger account, as the API names it.")
    poll_offset = fields.Char(readonly=True, copy=False, groups=ADMIN)
    dialog_ids = fields.One2many("openlines.dialog", "channel_id", string="Dialogs")
    dialog_count = fields.Integer(compute="_compute_dialog_count")

    _webhook_key_uniq = models.UniqueIndex("(webhook_key)")

    @api.depends("channel_type")
    def _compute_api_base_url(self):
        for channel in self:
            cls = REGISTRY.get(channel.channel_type)
            if cls and not channel.api_base_url:
                channel.api_base_url = cls.default_api_base_url

    @api.depends("webhook_key")
    def _compute_webhook_url(self):
        params = self.env["ir.config_parameter"].sudo()
        base = (params.get_param("openlines.public_url") or params.get_param("web.base.url", "")).rstrip("/")
        for channel in self:
            channel.webhook_url = f"{base}/openlines/webhook/{channel.webhook_key}" if channel.webhook_key else False

    def _compute_dialog_count(self):
        counts = dict(
            self.env["openlines.dialog"]._read_group([("channel_id", "in", self.ids)], ["channel_id"], ["__count"])
        )
        for channel in self:
            channel.dialog_count = counts.get(channel, 0)

    @api.constrains("channel_type")
    def _check_channel_type_available(self):
        for channel in self:
            if channel.channel_type not in REGISTRY:
                raise ValidationError(
                    self.env._(
                        "%(messenger)s cannot be connected yet: this version has no connector for it.",
                        messenger=channel._messenger_label(),
                    )
                )

    # -- connector ---------------------------------------------------------
    @api.model
    def _find_by_webhook_key(self, key):
        """The active channel of a webhook key, with what its connector needs, in one query."""
        # sudo: openlines.channel - the webhook key itself is the capability; credentials stay server-side
        return self.sudo().search_fetch(
            [("webhook_key", "=", key)],
            ["channel_type", "token", "webhook_secret", "api_base_url", "line_id", "company_id", *CONNECTOR_SETTINGS],
            limit=1,
            order="id",
        )

    def _get_connector(self):
        self.ensure_one()
        # sudo: openlines.channel - credentials are read for the API call only, never shown
        channel = self.sudo()
        config = {name: channel[name] or "" for name in CONNECTOR_SETTINGS}
        config.update(token=channel.token, webhook_secret=channel.webhook_secret, api_base_url=channel.api_base_url)
        if channel.channel_type == "viber":  # Viber shows a sender name: the line's by default
            config["line_name"] = channel.line_id.name or ""
        return get_connector(channel.channel_type, config)

    def _call(self, method, *args):
        """Call the connector; return ``(True, result)`` or ``(False, error)``.

        A failure is recorded on the channel (state and last error) in the
        current transaction, so the action answers with a notification
        instead of raising and rolling the record back.
        """
        self.ensure_one()
        if not self.env.su:
            self.check_access("write")  # before any call to the messenger
        channel = self.sudo()  # sudo: openlines.channel - only checks that the credentials are filled
        if channel.channel_type == "avito":
            if not (channel.avito_client_id and channel.avito_client_secret):
                raise UserError(
                    self.env._("Enter the Avito client ID and client secret on channel %(name)s first.", name=self.name)
                )
        elif not channel.token:
            raise UserError(self.env._("Enter the bot's token on channel %(name)s first.", name=self.name))
        try:
            return True, getattr(self._get_connector(), method)(*args)
        except ConnectorError as e:
            _logger.warning("Open Lines: %s on channel %s failed: %s", method, self.id, e.message)
            self.write({"state": "error", "last_error": e.message})
            return False, e.message

    def _messenger_label(self):
        return dict(self._fields["channel_type"]._description_selection(self.env)).get(self.channel_type, "")

    def _notify(self, message, title, kind="success"):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": kind,
                "sticky": kind == "danger",
                "title": title,
                "message": message,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _notify_failure(self, error):
        title = self.env._("%(messenger)s answered with an error", messenger=self._messenger_label())
        return self._notify(error, title, "danger")

    # -- actions -----------------------------------------------------------
    # Each action checks the caller's right to change the channel before any messenger is called.
    def action_connect(self):
        self.check_access("write")
        for channel in self:
            sudo_channel = channel.sudo()
            if channel.receive_mode == "webhook":
                ok, result = channel._call("set_webhook", sudo_channel.webhook_url, sudo_channel.webhook_secret)
            else:
                ok, result = channel._call("delete_webhook")
                wake_cron(self.env, "openlines_connector.ir_cron_openlines_poll")
            if not ok:
                return channel._notify_failure(result)
            channel.write({"state": "connected", "last_error": False})
        return True

    def action_disconnect(self):
        self.check_access("write")
        for channel in self:
            if channel.receive_mode == "webhook" and channel.state in ("connected", "failing"):
                ok, result = channel._call("delete_webhook")
                if not ok:
                    return channel._notify_failure(result)
            channel.write({"state": "draft", "last_error": False})
        return True

    def action_test(self):
        self.ensure_one()
        self.check_access("write")
        ok, result = self._call("test")
        if not ok:
            return self._notify_failure(result)
        self.account_name = result
        return self._notify(self.env._("Connected to %(account)s.", account=result), self.env._("Connection works"))

    def action_regenerate_keys(self):
        self.check_access("write")
        self.write({"webhook_key": _new_key(), "webhook_secret": _new_key(), "state": "draft"})
        return True

    def action_view_dialogs(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_dialog_action")
        action["domain"] = [("channel_id", "=", self.id)]
        return action

    # -- inbound -----------------------------------------------------------
    def _scrub(self, payload):
        """``payload`` without the channel's secrets (VK sends its webhook secret in every body):
        the message log keeps the request, never a credential."""
        channel = self.sudo()  # sudo: openlines.channel - the secrets to strip, read server-side only
        known = [
            value
            for value in (channel.token, channel.webhook_secret, *(channel[name] for name in SECRET_SETTINGS))
            if value and len(value) >= 6
        ]
        return scrub_secrets(payload, known) if known else payload

    def _ingest(self, items):
        """Store raw inbound payloads; duplicates are dropped by the unique key.

        :param items: list of ``(external_id, payload_dict)``
        :return: number of new rows

        One INSERT for the whole batch: the webhook answers fast and a
        redelivered update (same external id) creates nothing.
        """
        self.ensure_one()
        if not items:
            return 0
        channel = self.sudo()  # sudo: openlines.channel - the row's company is its channel's
        company_id, channel_type = channel.company_id.id, channel.channel_type
        rows = SQL(", ").join(
            SQL(
                "(%s, %s, 'in', %s, 'pending', %s, %s, 0, "
                "now() at time zone 'UTC', %s, %s, now() at time zone 'UTC', %s)",
                self.id,
                company_id,
                ext_id,
                # the conversation (chat) of the row: the processing cron handles conversations in parallel
                conversation_of(channel_type, payload),
                json.dumps(self._scrub(payload), ensure_ascii=False),
                self.env.uid or None,
                fields.Datetime.now(),
                self.env.uid or None,
            )
            for ext_id, payload in items
        )
        # one statement: the rows, and a trigger of the processing cron when at least one is new
        [(created, _notified)] = self.env.execute_query(
            SQL(
                """WITH new AS (
                    INSERT INTO openlines_message
                           (channel_id, company_id, direction, external_id, state, conversation, payload, attempts,
                            create_date, create_uid, next_attempt_dt, write_date, write_uid)
                    VALUES %s
                    ON CONFLICT (channel_id, direction, external_id) DO NOTHING
                    RETURNING 1
                ), wake AS (
                    INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, create_date, write_uid, write_date)
                    %s WHERE EXISTS (SELECT 1 FROM new)
                    UNION ALL %s WHERE EXISTS (SELECT 1 FROM new) AND EXISTS (%s)
                )
                SELECT (SELECT count(*) FROM new),
                       -- the processing cron's main job, when it is on, claims at once (openlines_message.py)
                       (SELECT pg_notify(%s, '') WHERE EXISTS (SELECT 1 FROM new)) IS NULL""",
                rows,
                trigger_sql(self.env, "openlines_connector.ir_cron_openlines_process"),
                # a batch slow at work (a download): the helpers take the other conversations
                trigger_sql(self.env, *INBOUND_HELPERS),
                self.env["openlines.message"]._busy_sql(),
                INBOUND_CHANNEL,
            )
        )
        if created:
            notify_after_commit(self.env)
        return created

    @api.model
    def _cron_poll(self):
        """Ask the messenger for new updates, for channels in polling mode."""
        channels = self.sudo().search([("receive_mode", "=", "polling"), ("state", "in", ("connected", "failing"))])
        for channel in channels:
            connector = channel._get_connector()
            try:
                payloads, offset = connector.poll(channel.poll_offset or None)
            except ConnectorError as e:
                _logger.warning("Open Lines: polling channel %s failed: %s", channel.id, e.message)
                channel._health_failure(e.message, permanent=channel._health_is_account_error(e))
                continue
            channel._ingest([(connector.dedup_key(p), p) for p in payloads])
            channel.write({"poll_offset": offset})
            channel._health_success()
            self.env["ir.cron"]._commit_progress(len(payloads))
