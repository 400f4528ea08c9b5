"""WhatsApp approved templates: the operator's way to reach a client outside the 24-hour window.

WhatsApp refuses free-form messages more than 24 hours after the client's
last message (error 131047) but accepts a template approved in WhatsApp
Manager.  The wizard below, opened from a WhatsApp dialog, posts a notice in
the dialog's Discuss session and queues an outbound row carrying the template;
the WhatsApp connector sends it as ``type: "template"``.
"""

from odoo import fields, models
from odoo.exceptions import UserError

from ..tools import wake_cron


class OpenlinesMessage(models.Model):
    _inherit = "openlines.message"

    template = fields.Json(
        help="An approved WhatsApp template sent instead of the message's text: "
        '{"name", "language": {"code"}, "components"}.'
    )

    def _build_outbound(self):
        outbound = super()._build_outbound()
        if self.template:
            outbound.text, outbound.files, outbound.buttons = "", [], []
            outbound.template = self.template
        return outbound


class OpenlinesDialog(models.Model):
    _inherit = "openlines.dialog"

    def action_whatsapp_template(self):
        self.ensure_one()
        self.check_access("write")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Send a WhatsApp template"),
            "res_model": "openlines.whatsapp.template.send",
            "view_mode": "form",
            "target": "new",
            "context": {"default_dialog_id": self.id},
        }


class OpenlinesWhatsappTemplateSend(models.TransientModel):
    """Send an approved WhatsApp template to the client of one dialog."""

    _name = "openlines.whatsapp.template.send"
    _description = "Open Lines: send a WhatsApp template"

    dialog_id = fields.Many2one("openlines.dialog", required=True, ondelete="cascade")
    template_name = fields.Char(
        "Template", required=True, help="The template's name exactly as approved in WhatsApp Manager."
    )
    template_lang = fields.Char(
        "Language code",
        required=True,
        default="ru",
        help="The language of the approved template, as WhatsApp names it: ru, en, en_US...",
    )
    body_params = fields.Text(
        "Body parameters",
        help="The values of the template's body variables {{1}}, {{2}}...: one a line, in order.",
    )

    def _template_payload(self):
        self.ensure_one()
        payload = {"name": self.template_name.strip(), "language": {"code": self.template_lang.strip()}}
        params = [line.strip() for line in (self.body_params or "").splitlines() if line.strip()]
        if params:
            payload["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": value} for value in params]}
            ]
        return payload

    def action_send(self):
        self.ensure_one()
        dialog = self.dialog_id
        dialog.check_access("write")
        # sudo: openlines.channel - its messenger, for an operator who may not read channels
        if dialog.sudo().channel_id.channel_type != "whatsapp":
            raise UserError(self.env._("Templates can only be sent in WhatsApp dialogs."))
        if not dialog.contact_id:
            raise UserError(self.env._("This dialog has no messenger client to send to."))
        if not (self.template_name or "").strip() or not (self.template_lang or "").strip():
            raise UserError(self.env._("Enter the template's name and language code."))
        payload = self._template_payload()
        dialog._post_notice(self.env._("Template %(name)s sent", name=payload["name"]))
        # sudo: discuss.channel - the notice just posted in the dialog's own session
        notice = dialog.discuss_channel_id.sudo().message_ids.sorted("id")[-1:]
        # sudo: openlines.message - the message log is written by the system, as for any operator answer
        self.env["openlines.message"].sudo().create(
            {
                "channel_id": dialog.channel_id.id,
                "direction": "out",
                "dialog_id": dialog.id,
                "mail_message_id": notice.id,
                "template": payload,
            }
        )
        wake_cron(self.env, "openlines_connector.ir_cron_openlines_send")
        return {"type": "ir.actions.act_window_close"}
