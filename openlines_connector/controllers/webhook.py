import logging
import re

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

MAX_BODY = 10 * 1024 * 1024  # Telegram sends a few KB; nothing genuine comes near this

#: what must never reach a log line: the webhook key (the only secret of OK and Avito) and Meta's verify token
_SECRETS_RE = re.compile(r"(/openlines/webhook/)[^/?#\s\"]+|((?:hub\.|hub%2E)verify_token=)[^&#\s\"]*", re.IGNORECASE)


def redact(text):
    """``text`` with webhook keys and ``hub.verify_token`` values replaced by ``***``.

    Runs on every access-log line: a line that cannot hold either (most) costs two substring tests.
    """
    lowered = text.lower()
    if "/openlines/webhook/" not in lowered and "verify_token" not in lowered:
        return text
    return _SECRETS_RE.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactWebhookSecrets(logging.Filter):
    """Keeps webhook keys out of the access log (werkzeug's request line, logger ``werkzeug``:
    odoo/service/server.py ``CommonRequestHandler.log_request``) and of ``odoo.http``'s lines."""

    def filter(self, record):
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple) and any(isinstance(a, str) for a in record.args):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


for _name in ("werkzeug", "odoo.http"):
    _log = logging.getLogger(_name)
    if not any(type(f).__name__ == RedactWebhookSecrets.__name__ for f in _log.filters):  # once, across reloads
        _log.addFilter(RedactWebhookSecrets())


def _answer(data, status=200):
    return request.make_json_response(data, status=status)


class OpenlinesWebhook(http.Controller):
    """Messenger webhooks: verify, store, wake the processing cron, answer at once."""

    @http.route(
        # Apple Messages for Business posts to "<registered address>/message"
        ["/openlines/webhook/<string:webhook_key>", "/openlines/webhook/<string:webhook_key>/message"],
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
            try:
                status, body = connector.handshake(httprequest.args)
            except Exception:  # noqa: BLE001 - any odd query is a refusal, never a 500
                _logger.warning("Open Lines webhook: handshake refused for channel %s", channel.id)
                status, body = 403, "forbidden"
            return request.make_response(body, status=status, headers=[("Content-Type", "text/plain")])
        body = httprequest.get_data()  # cached: Odoo replays the request after a serialization failure
        if len(body) > MAX_BODY or not self._verified(connector, httprequest, body):
            _logger.warning("Open Lines webhook: request refused for channel %s (bad secret or size)", channel.id)
            return _answer({"ok": False, "error": "forbidden"}, 403)
        try:
            payload = connector.load(body)
            items = connector.split(payload)
        except Exception:  # noqa: BLE001 - ValueError, RecursionError (deep JSON)...: any unreadable body is a 400
            _logger.warning("Open Lines webhook: malformed request for channel %s", channel.id)
            return _answer({"ok": False, "error": "malformed request"}, 400)
        if items:
            channel._ingest(items)
        answer = connector.webhook_response(payload)
        if answer:
            status, text = answer
            return request.make_response(text, status=status, headers=[("Content-Type", "text/plain")])
        return _answer({"ok": True})

    @staticmethod
    def _verified(connector, httprequest, body):
        """The connector's verdict; a connector that trips on an odd body refuses it (403), never a 500."""
        try:
            return bool(connector.verify(httprequest.headers, body, httprequest.args))
        except Exception:  # noqa: BLE001 - whatever a forged body does to a connector, the answer is 403
            _logger.info("Open Lines webhook: verification raised on a malformed request", exc_info=True)
            return False
