from odoo import models
from odoo.exceptions import AccessError

from .openlines_guard import ADMIN


class ImLivechatChannel(models.Model):
    """A line's live-chat channel is joined through the line, not through im_livechat.

    Directors are Live Chat users (they read the sessions of the lines they
    supervise), and im_livechat lets every Live Chat user join any live-chat
    channel: joining the channel behind a line would make them its operator,
    and open them the queue and dialogs of a line they do not supervise.
    The operators of a line are chosen on the line, by an administrator.
    """

    _inherit = "im_livechat.channel"

    def action_join(self):
        self.ensure_one()
        if not self.env.su and not self.env.user.has_group(ADMIN):
            # sudo: openlines.line - is this channel an Open Line's, whatever the caller may read
            line = self.env["openlines.line"].sudo().with_context(active_test=False).search_count(
                [("livechat_channel_id", "=", self.id)], limit=1
            )
            if line:
                raise AccessError(
                    self.env._("The operators of an Open Line are chosen on the line, by an Open Lines administrator.")
                )
        return super().action_join()
