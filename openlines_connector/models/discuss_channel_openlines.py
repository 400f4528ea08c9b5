from odoo import models

from odoo.addons.mail.tools.discuss import Store

#: short labels of the messengers, as operators see them in Discuss's list and header
SOURCE_LABELS = {
    "telegram": "Telegram",
    "vk": "VK",
    "ok": "OK",
    "avito": "Avito",
    "whatsapp": "WhatsApp",
    "viber": "Viber",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "apple": "Apple",
}


class DiscussChannel(models.Model):
    """What Discuss shows and allows in a dialog's session (issue 16).

    - every internal reader gets ``openlines_info``: the messenger (or the site), the line, the
      dialog's state and whether closing asks for confirmation, for the list, the header and the
      actions of the web client (``static/src/discuss``);
    - a session whose dialog is queued is read-only for an operator who is not in it: he previews
      it (the rule ``openlines_discuss_channel_rule_queue_preview``) and posts once he took it;
      im_livechat's "Join" of a session looking for help takes the dialog instead;
    - an internal note (``mail.mt_note``) posted in a session is sent to the internal members only,
      never to the client: not over the bus to a site visitor, and never to a messenger (only
      ``mail.mt_comment`` posts are queued outbound, ``discuss_channel.py``).
    """

    _inherit = "discuss.channel"

    # -- what the web client gets ----------------------------------------------------
    def _to_store_defaults(self, target: Store.Target):
        fields = super()._to_store_defaults(target)
        if target.is_internal(self.env):
            fields.append(
                Store.Attr("openlines_info", value=lambda c: c._openlines_info(), predicate=_is_dialog_session)
            )
        return fields

    def _openlines_info(self):
        """The dialog's facts the operator sees at a glance (``False`` for other conversations)."""
        self.ensure_one()
        # sudo: openlines.dialog - whoever reads the session sees from which messenger and line it comes
        dialog = self.sudo().openlines_dialog_id
        if not dialog:
            return False
        source = dialog.source or "site"
        return {
            "dialog_id": dialog.id,
            "source": source,
            "source_label": SOURCE_LABELS.get(source) or self.env._("Site"),
            "line": dialog.line_id.name,
            "state": dialog.state,
            "operator_id": dialog.operator_id.partner_id.id or False,
            "close_confirmation": dialog.line_id.close_confirmation,
        }

    def _openlines_push_info(self, partners=None):
        """Send the sessions' ``openlines_info`` to their members (and to ``partners``), live."""
        for channel in self.filtered("openlines_dialog_id"):
            fields = [Store.Attr("openlines_info", value=lambda c: c._openlines_info()), "livechat_end_dt"]
            Store(bus_channel=channel).add(channel, fields).bus_send()
            for partner in partners or ():
                Store(bus_channel=partner).add(channel, fields).bus_send()

    # -- a queued session is read-only for operators outside it ------------------------
    def _mail_get_operation_for_mail_message_operation(self, message_operation):
        """Posting in a queued dialog's session takes being in it: a preview does not let one answer."""
        result = super()._mail_get_operation_for_mail_message_operation(message_operation)
        if message_operation != "create" or self.env.user._is_superuser() or not self.env.user._is_internal():
            return result
        for channel in self:
            # sudo: discuss.channel - the session's dialog and members decide who may post
            channel_sudo = channel.sudo()
            if (
                result.get(channel)
                and channel_sudo.openlines_dialog_id.state == "queued"
                and self.env.user.partner_id not in channel_sudo.channel_member_ids.partner_id
            ):
                result[channel] = "write"  # only members may write a session: Take first
        return result

    def livechat_join_channel_needing_help(self):
        """Discuss's "Join" of a queued dialog's session takes the dialog (with its checks)."""
        if self.openlines_dialog_id:
            self.ensure_one()
            self.openlines_dialog_id.action_take()  # checks the caller, may raise
            return True
        return super().livechat_join_channel_needing_help()

    # -- internal notes ------------------------------------------------------------------
    def _notify_thread(self, message, msg_vals=False, **kwargs):
        note = self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note")  # cached, unlike env.ref
        if self.openlines_dialog_id and message.subtype_id.id == note:
            self = self.with_context(openlines_note=True)  # noqa: PLW0642 - the note's bus goes to employees
        return super()._notify_thread(message, msg_vals=msg_vals, **kwargs)

    def _bus_send(self, notification_type, message, /, *, subchannel=None):
        """A note goes to the session's internal members only (a site visitor listens to the session)."""
        if self.env.context.get("openlines_note") and notification_type == "discuss.channel/new_message":
            for channel in self:
                # sudo: discuss.channel.member - the internal members of the session get the note
                partners = channel.sudo().channel_member_ids.partner_id.filtered(
                    lambda p: p.user_ids and not p.user_ids[0].share
                )
                for partner in partners | self.env.user.partner_id:
                    partner._bus_send(notification_type, message)
            return
        super()._bus_send(notification_type, message, subchannel=subchannel)


def _is_dialog_session(channel):
    return channel.channel_type == "livechat" and bool(channel.sudo().openlines_dialog_id)
