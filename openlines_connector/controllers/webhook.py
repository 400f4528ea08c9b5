import json
import logging

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024  # Telegram sends a few KB; nothing genuine comes near this


def _answer(data, status=200):
    return request.make_json_response(data, status=status)


class OpenlinesWebhook(http.Controller):
    """Messenger webhooks: verify, store, wake the processing cron, answer at once."""

    @http.route(
        "/openlines/webhook/<string:webhook_key>",
        type="http",
        auth="none",
        readonly=False,
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
    )
    def webhook(self, webhook_key, **kwargs):
        channel = (
            request.env["openlines.channel"]._find_by_webhook_key(webhook_key)
            if 20 <= len(webhook_key) <= 128
            else None
        )
        if not channel:
            _logger.info("Open Lines webhook: unknown key")
            return _answer({"ok": False, "error": "unknown webhook"}, 404)
        connector = channel._get_connector()
        httprequest = request.httprequest
        if httprequest.method == "GET":
            status, body = connector.handshake(httprequest.args)
            return request.make_response(body, status=status, headers=[("Content-Type", "text/plain")])
        body = httprequest.get_data()  # cached: Odoo replays the request after a serialization failure
        if len(body) > MAX_BODY or not connector.verify(httprequest.headers, body, httprequest.args):
            _logger.warning("Open Lines webhook: request refused for channel %s (bad secret or size)", channel.id)
            return _answer({"ok": False, "error": "forbidden"}, 403)
        try:
            payload = json.loads(body)
            items = connector.split(payload)
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):  # RecursionError: deep JSON
            _logger.warning("Open Lines webhook: malformed request for channel %s", channel.id)
            return _answer({"ok": False, "error": "malformed request"}, 400)
        if items:
            channel._ingest(items)
        answer = connector.webhook_response(payload)
        if answer:
            status, text = answer
            return request.make_response(text, status=status, headers=[("Content-Type", "text/plain")])
        return _answer({"ok": True})
