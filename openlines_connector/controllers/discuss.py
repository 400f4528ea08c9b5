from odoo.http import request

from odoo.addons.mail.controllers.webclient import WebclientController
from odoo.addons.mail.tools.discuss import Store

#: the queued sessions a Discuss client loads at most at once
QUEUE_LIMIT = 100


class OpenlinesWebclient(WebclientController):
    """Discuss loads ``/openlines/queue``: the queued sessions of the user's lines (issue 16)."""

    @classmethod
    def _process_request_for_internal_user(cls, store: Store, name, params):
        super()._process_request_for_internal_user(store, name, params)
        if name == "/openlines/queue" and request.env.user.has_group("openlines_connector.group_openlines_manager"):
            # (an employee without an Open Lines role has no queue: Live Chat users among them)
            # the user's rights decide: the queue preview rule lets an operator read the queued
            # sessions of his lines (security/openlines_discuss_security.xml)
            queued = request.env["discuss.channel"].search(
                [
                    ("channel_type", "=", "livechat"),
                    ("openlines_dialog_id.state", "=", "queued"),
                    ("openlines_dialog_id.line_id.user_ids", "in", request.env.uid),
                ],
                order="id",
                limit=QUEUE_LIMIT,
            )
            request.update_context(channels=request.env.context["channels"] | queued)
