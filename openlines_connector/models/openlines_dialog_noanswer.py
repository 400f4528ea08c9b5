import logging

from odoo import models

_logger = logging.getLogger(__name__)


class OpenlinesDialog(models.Model):
    """When the KPI cron marks a dialog late, the client gets the line's no-answer text (issue 16)."""

    _inherit = "openlines.dialog"

    def _kpi_breach(self, now, chats):
        res = super()._kpi_breach(now, chats)
        if self.state != "closed" and (text := self.line_id._client_text("noanswer_message").strip()):
            try:
                with self.env.cr.savepoint():
                    self._post_auto_reply(text)  # the line's text: no answer, the clock keeps running
            except Exception:  # noqa: BLE001 - the dialog stays late and the alerts went out
                _logger.exception("Open Lines: the no-answer text of dialog %s failed", self.id)
        return res
