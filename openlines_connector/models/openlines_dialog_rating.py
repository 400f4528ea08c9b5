import re

from odoo import api, fields, models

#: what a client may answer instead of pressing a button
TEXT_RATINGS = {"👍": 5, "👎": 1, **{str(n): n for n in range(1, 6)}}
BUTTON = re.compile(r"^rate:([1-5])$")
#: the rating as a choice, to group and filter by (the number stays in ``rating_value``, averaged)
RATING_STARS = [(str(n), "⭐" * n) for n in range(1, 6)]


class OpenlinesDialog(models.Model):
    """Rating inside the messenger: asked on close, stored in Odoo's live-chat ratings."""

    _inherit = "openlines.dialog"

    rating_requested = fields.Boolean("Rating asked", readonly=True, copy=False)
    rating_value = fields.Integer("Client's rating", readonly=True, copy=False, aggregator="avg")
    rating_comment = fields.Text(
        "Client's comment", readonly=True, copy=False, help="What the client wrote with the rating (site chat)."
    )
    rating_stars = fields.Selection(
        RATING_STARS,
        "Rating",
        compute="_compute_rating_stars",
        store=True,
        help="The client's rating, 1 (bad) to 5 (excellent); empty when the client did not rate.",
    )

    @api.depends("rating_value")
    def _compute_rating_stars(self):
        for dialog in self:
            dialog.rating_stars = str(dialog.rating_value) if 1 <= dialog.rating_value <= 5 else False

    def _mark_closed(self):
        closing = self.filtered(lambda d: d.state != "closed")
        res = super()._mark_closed()
        for dialog in closing.filtered(lambda d: d.channel_id and d.line_id.rating_request and not d.rating_value):
            dialog._ask_rating()
        return res

    def _ask_rating(self):
        self.ensure_one()
        text = self.line_id._client_text("rating_message")
        buttons = [("⭐" * n, f"rate:{n}") for n in range(1, 6)]
        self.with_context(openlines_buttons=buttons)._post_auto_reply(text)
        self.rating_requested = True

    @api.model
    def _rating_reply(self, channel, event):
        """If ``event`` answers a rating request of the client's last dialog, apply it and return the dialog."""
        data = (event.text or "").strip()
        match = BUTTON.match(data) if event.kind == "button" else None
        rate = int(match.group(1)) if match else (TEXT_RATINGS.get(data) if event.kind == "message" else None)
        if not rate:
            return self.browse()
        dialog = self.search(
            [("channel_id", "=", channel.id), ("contact_id.external_id", "=", event.chat_id)], order="id desc", limit=1
        )
        if not dialog.rating_requested or dialog.rating_value:
            return self.browse()
        dialog._apply_rating(rate)
        return dialog

    def _on_session_rating(self, rating):
        """The session's ``rating.rating`` changed (a site visitor's stars and comment): copy it on the dialog."""
        value = int(rating.rating or 0)
        vals = {"rating_value": value if 1 <= value <= 5 else 0, "rating_comment": rating.feedback or False}
        for dialog in self:
            if any(dialog[name] != val for name, val in vals.items()):
                dialog.write(vals)

    def _apply_rating(self, rate):
        """Store the rating where Odoo's live-chat rating reports read it."""
        self.ensure_one()
        # sudo: discuss.channel - the client rates their own conversation
        session = self.discuss_channel_id.sudo()
        token = session._rating_get_access_token(self.partner_id)
        session.rating_apply(rate, token=token)
        self.rating_value = rate
        self._post_notice(self.env._("The client rated the dialog %(rate)s out of 5.", rate=rate))
