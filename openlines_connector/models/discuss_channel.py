from markupsafe import escape

from odoo import api, fields, models

from .openlines_guard import check_system_fields


class DiscussChannel(models.Model):
    """A dialog's live-chat session: outbound messages and closing flow from here."""

    _inherit = "discuss.channel"

    openlines_dialog_id = fields.Many2one(
        "openlines.dialog", string="Open Lines dialog", index="btree_not_null", readonly=True, copy=False
    )

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            # a chat made a dialog's session would send what is posted in it to that dialog's client
            check_system_fields(self, {"openlines_dialog_id"}.intersection(vals), ())
        channels = super().create(vals_list)
        if not self.env.context.get("openlines_skip_dialog"):
            sessions = channels.filtered(lambda c: c.channel_type == "livechat" and c.livechat_channel_id)
            if sessions:
                self.env["openlines.dialog"]._create_for_site_sessions(sessions)
        return channels

    def write(self, vals):
        check_system_fields(self, {"openlines_dialog_id"}.intersection(vals), ())
        res = super().write(vals)
        if vals.get("livechat_end_dt"):
            # sudo: openlines.dialog - ending the session (from Discuss) closes its dialog
            self.sudo().openlines_dialog_id._mark_closed()
        return res

    def _attachment_to_html(self, attachment):
        if self.env.context.get("openlines_lead_transcript"):
            # a lead's copy of the conversation names the client's files: a link would publish them
            return escape(f"[{attachment.name}]")
        return super()._attachment_to_html(attachment)

    def _message_post_after_hook(self, message, msg_vals):
        res = super()._message_post_after_hook(message, msg_vals)
        # sudo: openlines.dialog - the poster may not read the dialog row, the session is theirs
        dialog = self.sudo().openlines_dialog_id
        if (
            not dialog
            or self.env.context.get("openlines_inbound")  # the inbound processing records client messages itself
            or msg_vals.get("message_type", message.message_type) != "comment"
        ):
            return res
        from_client = message.author_guest_id or (message.author_id and message.author_id == dialog.partner_id)
        if from_client:
            if not dialog.channel_id:  # a visitor typed in the site's widget
                dialog._on_client_message()
        elif message.author_id and msg_vals.get("subtype_id") == self.env["ir.model.data"]._xmlid_to_res_id(
            "mail.mt_comment"
        ):
            if dialog.channel_id:
                self.env["openlines.message"]._queue_outbound(dialog, message)
            if not self.env.context.get("openlines_auto_reply"):  # the line's own texts are no answer
                dialog._on_answer(message.author_id)
        return res
