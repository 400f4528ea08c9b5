import logging

from odoo import api, fields, models

from ..connectors.base import ConnectorError
from ..tools import PREFETCH_KEY
from .openlines_guard import check_system_fields, fill_company

#: what a user (not an administrator) may change on a contact: how it is shown; the rest ties
#: the contact to its chat, channel, partner and consent, and is written by the addon only
USER_FIELDS = {"name", "username", "lang"}

_logger = logging.getLogger(__name__)


class OpenlinesContact(models.Model):
    """A client as one channel knows them (a Telegram chat...), tied to a partner."""

    _name = "openlines.contact"
    _description = "Open Lines client contact"
    _order = "id desc"
    _check_company_auto = True

    name = fields.Char(required=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, readonly=True, default=lambda self: self.env.company
    )
    channel_id = fields.Many2one("openlines.channel", required=True, ondelete="cascade", index=True, check_company=True)
    channel_type = fields.Selection(related="channel_id.channel_type", store=True, string="Messenger")
    line_id = fields.Many2one(related="channel_id.line_id", store=True, string="Open Line", index=True)
    external_id = fields.Char("Chat ID", required=True, help="The messenger's id of the private chat with this client.")
    external_user_id = fields.Char(
        "User ID",
        index="btree_not_null",  # the same person on another channel of the same messenger
        help="The messenger's id of the client's account.",
    )
    username = fields.Char(help="The client's public username in the messenger, if any.")
    phone = fields.Char(index="btree_not_null")  # the same person on another channel, by phone
    lang = fields.Char("Language", help="Language code the messenger reports for the client.")
    partner_id = fields.Many2one(
        "res.partner", string="Partner", required=True, ondelete="restrict", index=True, check_company=True
    )
    is_blocked = fields.Boolean(
        "Blocked the bot", help="The client blocked the bot: messages can no longer be delivered."
    )
    consent_date = fields.Datetime(
        "Consent given on",
        readonly=True,
        copy=False,
        help="When the client accepted the line's agreement on personal data.",
    )
    consent_version = fields.Integer("Agreement version", readonly=True, copy=False)
    consent_text = fields.Text("Accepted agreement", readonly=True, copy=False)
    dialog_ids = fields.One2many("openlines.dialog", "contact_id", string="Dialogs")
    dialog_count = fields.Integer(compute="_compute_dialog_count")

    _external_uniq = models.UniqueIndex("(channel_id, external_id)")

    @api.model_create_multi
    def create(self, vals_list):
        return super().create(fill_company(self.env, vals_list, "channel_id", "openlines.channel"))

    def write(self, vals):
        check_system_fields(self, vals, USER_FIELDS)
        return super().write(vals)

    def _compute_dialog_count(self):
        counts = dict(
            self.env["openlines.dialog"]._read_group([("contact_id", "in", self.ids)], ["contact_id"], ["__count"])
        )
        for contact in self:
            contact.dialog_count = counts.get(contact, 0)

    @api.depends("name", "channel_type", "username")
    def _compute_display_name(self):
        for contact in self:
            suffix = f" (@{contact.username})" if contact.username else ""
            contact.display_name = f"{contact.name}{suffix}"

    def action_view_dialogs(self):
        self.ensure_one()
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("openlines_connector.openlines_dialog_action")
        action["domain"] = [("contact_id", "=", self.id)]
        return action

    @api.model
    def _get_or_create(self, channel, event):
        """Return the contact of ``event``'s chat on ``channel``, creating it and its partner.

        A new contact is first matched with a partner the client already is
        (see ``_match_partner``); a partner is created only for a new client.
        """
        hint = self.env.cr.cache.get(PREFETCH_KEY)  # a batch's contacts, see openlines.message
        key = (channel.id, str(event.chat_id))
        if hint and key in hint["contacts"]:
            contact = self.browse(hint["contacts"][key]).with_prefetch(tuple(hint["contacts"].values()))
        elif hint and key in hint["searched"]:
            contact = self.browse()  # the batch's prefetch looked for it: a new client
        else:
            contact = self.search_fetch(
                [("channel_id", "=", channel.id), ("external_id", "=", event.chat_id)], None, limit=1
            )
        if contact:
            if event.phone and not contact.phone:
                contact.phone = self._normalize_phone(event.phone) or event.phone
                contact._complete_partner(event)
            return contact
        return self._create_for_events([(channel, event)])

    @api.model
    def _create_for_events(self, channel_events):
        """The contacts (and partners) of new clients, one per ``(channel, event)``, created together.

        Each is first matched with a partner the client already is (``_match_partner``); the partners of
        the others are created in one ``create``, and so are the contacts. The processing cron's batch
        passes several (``openlines.message._open_new_dialogs``), never two of one person.
        """
        matched = []
        for channel, event in channel_events:
            self._fetch_profile(channel, event)
            matched.append(self._match_partner(channel, event))
        created = iter(
            self._create_partners([ce for ce, partner in zip(channel_events, matched, strict=True) if not partner])
        )
        contacts = self.create(
            [
                self._new_contact_vals(channel, event, partner or next(created))
                for (channel, event), partner in zip(channel_events, matched, strict=True)
            ]
        )
        if (hint := self.env.cr.cache.get(PREFETCH_KEY)) is not None:
            for (channel, event), contact in zip(channel_events, contacts, strict=True):
                hint["contacts"][channel.id, str(event.chat_id)] = contact.id
                hint["no_dialog"].add(contact.id)
        return contacts

    @api.model
    def _new_contact_vals(self, channel, event, partner):
        return {
            "name": event.name or event.username or event.chat_id,
            "channel_id": channel.id,
            "external_id": event.chat_id,
            "external_user_id": event.user_id or False,
            "username": event.username or False,
            "phone": self._normalize_phone(event.phone) or event.phone or False,
            "lang": event.lang or False,
            "partner_id": partner.id,
        }

    @api.model
    def _fetch_profile(self, channel, event):
        """Ask the messenger for a new client's name when the webhook did not carry it (Messenger, Instagram)."""
        if event.name:
            return
        try:
            channel._get_connector().profile(event)
        except ConnectorError as e:
            _logger.info("Open Lines: no profile for a new client of channel %s: %s", channel.id, e.message)
