import mimetypes
import posixpath
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from odoo import api, fields, models

from ..connectors.base import OutboundFile

#: delivery states in the order a message reaches them; a later report never lowers the state
DELIVERY_RANK = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}
#: messengers that refuse free-form messages 24 hours after the client's last message
WINDOW_CHANNEL_TYPES = ("whatsapp",)
CUSTOMER_WINDOW = timedelta(hours=24)
#: messengers that fetch outgoing files by URL instead of taking an upload
FILE_URL_CHANNEL_TYPES = ("viber", "ok", "avito")  # ok: attachments by URL; avito: non-image files as links


class OpenlinesMessage(models.Model):
    """Delivery reports of outgoing messages and the messengers' customer-service window."""

    _inherit = "openlines.message"

    delivery_status = fields.Selection(
        [("sent", "Sent"), ("delivered", "Delivered"), ("read", "Read"), ("failed", "Not delivered")],
        readonly=True,
        copy=False,
        help="What the messenger reported about this outgoing message (WhatsApp, Viber, Messenger): "
        "the furthest state reached.",
    )

    # -- delivery reports --------------------------------------------------------
    def _find_sent(self, remote_id):
        """The outbound row of this channel that sent messenger message ``remote_id``.

        Sent rows keep ``chat:message`` ids, comma-separated when one Discuss
        message became several messenger messages; reports name the message
        id alone.
        """
        if not remote_id:
            return self.browse()
        rows = self.search(
            [
                ("channel_id", "=", self.channel_id.id),
                ("direction", "=", "out"),
                ("remote_message_id", "ilike", remote_id),
            ],
            limit=20,
        )
        return rows.filtered(
            lambda r: any(
                part == remote_id or part.partition(":")[2] == remote_id
                for part in (r.remote_message_id or "").split(",")
            )
        )[:1]

    def _find_read_up_to(self, event):
        """Messenger's read mark names no message but a time (``watermark:<ms>``): the last answer sent by then."""
        prefix, _sep, millis = (event.remote_message_id or "").partition(":")
        if prefix != "watermark" or not millis.isdigit() or not event.chat_id:
            return self.browse()
        return self.search(
            [
                ("channel_id", "=", self.channel_id.id),
                ("direction", "=", "out"),
                ("remote_message_id", "=like", f"{event.chat_id}:%"),
                ("write_date", "<=", datetime.fromtimestamp(int(millis) / 1000, UTC).replace(tzinfo=None)),
            ],
            order="id desc",
            limit=1,
        )

    def _record_delivery(self, event):
        """Store a delivery report (``event.note``: ``sent``, ``delivered``, ``read`` or ``failed: why``)."""
        status, _sep, error = (event.note or "").partition(":")
        status, error = status.strip(), error.strip()
        if status not in DELIVERY_RANK:
            return self.env._("delivery report %(status)s ignored", status=status or "?")
        row = self._find_sent(event.remote_message_id) or self._find_read_up_to(event)
        if not row:
            return self.env._("delivery report of unknown message %(id)s", id=event.remote_message_id)
        self.dialog_id = row.dialog_id
        if DELIVERY_RANK[status] <= DELIVERY_RANK.get(row.delivery_status, 0):
            return False
        if status != "failed":
            row.delivery_status = status
            return False
        error = error or self.env._("no reason given")
        row.write({"delivery_status": "failed", "state": "failed", "last_error": error})
        row.dialog_id._post_notice(
            self.env._("The messenger could not deliver a message to the client: %(error)s", error=error)
        )
        return False

    # -- typing and read marks (openlines.signal) -------------------------------------
    @api.model
    def _cron_send_outbound(self):
        """ "typing…" and read marks first: they are about what the client sees now, and cheap."""
        self.env["openlines.signal"]._send_due()
        return super()._cron_send_outbound()

    # -- customer-service window -------------------------------------------------
    @api.model
    def _queue_outbound(self, dialog, message):
        res = super()._queue_outbound(dialog, message)
        last = dialog.date_last_client
        if (
            dialog.channel_id.channel_type in WINDOW_CHANNEL_TYPES
            and last
            and fields.Datetime.now() - last > CUSTOMER_WINDOW
        ):
            dialog._post_notice(
                self.env._(
                    "The client last wrote more than 24 hours ago: %(messenger)s will refuse this message. "
                    "Only an approved template message can reach the client until they write again.",
                    messenger=dialog.channel_id._messenger_label(),
                )
            )
        return res

    # -- outgoing files ------------------------------------------------------------
    def _outbound_file(self, attachment):
        """An :class:`OutboundFile` of ``attachment``; with a public URL where the messenger fetches files."""
        url = ""
        if self.channel_id.channel_type in FILE_URL_CHANNEL_TYPES:
            # sudo: ir.attachment - the operator's attachment is published by access token to the messenger only
            token = attachment.sudo().generate_access_token()[0]
            params = self.env["ir.config_parameter"].sudo()
            base = (params.get_param("openlines.public_url") or params.get_param("web.base.url", "")).rstrip("/")
            url = f"{base}/web/content/{attachment.id}?access_token={token}&download=true"
            if self.channel_id.channel_type == "viber":  # Viber wants the file's extension at the end of the path
                name = attachment.name or "file"
                if not posixpath.splitext(name)[1]:
                    name += mimetypes.guess_extension(attachment.mimetype or "") or ""
                url = f"{base}/web/content/{attachment.id}/{quote(name)}?access_token={token}&download=true"
        return OutboundFile(attachment.name, attachment.raw, attachment.mimetype, url=url)
