import logging

from odoo import fields, models

from ..connectors.base import ConnectorError, OutboundMessage
from ..tools import wake_cron

_logger = logging.getLogger(__name__)

YES = {"consent:yes", "yes", "да", "согласен", "согласна", "accept", "i agree"}
NO = {"consent:no", "no", "нет", "не согласен", "не согласна", "decline"}


class OpenlinesMessage(models.Model):
    """Consent to personal-data processing before anything reaches operators or CRM.

    Until the client accepts the line's agreement, their messages are held in
    the log (state ``held``): no contact, partner, dialog or lead exists yet.
    On acceptance the contact is created with the consent recorded, and the
    held messages are processed in their order.
    """

    _inherit = "openlines.message"

    external_chat_id = fields.Char("Chat", index="btree_not_null", help="The client's chat, for held messages.")

    def _consent_gate(self, connector, event):
        """Return True when ``event`` was handled by the consent step (nothing else to do)."""
        line = self.channel_id.line_id
        if not line.consent_required or event.kind not in ("message", "button"):
            return False
        Contact = self.env["openlines.contact"]
        contact = Contact.search([("channel_id", "=", self.channel_id.id), ("external_id", "=", event.chat_id)])
        if contact.consent_date:
            return False
        answer = (event.text or "").strip().lower()
        if answer in YES:
            self._consent_accept(event)
        elif answer in NO:
            self._consent_send(connector, event, line._client_text("consent_decline_message"))
            self.write({"state": "done", "external_chat_id": event.chat_id})
        else:
            held_before = self.search_count(
                [
                    ("channel_id", "=", self.channel_id.id),
                    ("external_chat_id", "=", event.chat_id),
                    ("state", "=", "held"),
                ]
            )
            self.write({"state": "held", "external_chat_id": event.chat_id})
            if not held_before:  # ask once per series of messages
                buttons = [(self.env._("Accept"), "consent:yes"), (self.env._("Decline"), "consent:no")]
                self._consent_send(connector, event, line._client_text("consent_text"), buttons)
        return True

    def _consent_accept(self, event):
        line = self.channel_id.line_id
        contact = self.env["openlines.contact"]._get_or_create(self.channel_id, event)
        contact.write(
            {
                "consent_date": fields.Datetime.now(),
                "consent_version": line.consent_version,
                "consent_text": line._client_text("consent_text"),
            }
        )
        held = self.search(
            [("channel_id", "=", self.channel_id.id), ("external_chat_id", "=", event.chat_id), ("state", "=", "held")]
        )
        held.write({"state": "pending", "next_attempt_dt": fields.Datetime.now()})
        self.write({"state": "done", "external_chat_id": event.chat_id})
        if held:
            wake_cron(self.env, "openlines_connector.ir_cron_openlines_process")

    def _consent_send(self, connector, event, text, buttons=()):
        """Send a consent text straight away: there is no dialog (nor Discuss session) yet."""
        if not text:
            return
        try:
            connector.send(OutboundMessage(chat_id=event.chat_id, text=text, buttons=list(buttons), ref=str(self.id)))
        except ConnectorError as e:
            _logger.warning(
                "Open Lines: consent text to chat on channel %s not sent: %s", self.channel_id.id, e.message
            )
