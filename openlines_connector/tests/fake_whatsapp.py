"""A fake WhatsApp Cloud API (Graph API) on 127.0.0.1, for tests (no Odoo import).

Routes: ``GET /{phone-number-id}`` (account), ``POST /{phone-number-id}/messages``,
``POST /{phone-number-id}/media`` (multipart upload), ``GET /{media-id}`` (the
media's download address) and ``GET /download/<name>`` (the bytes; bearer
token required, as Meta's CDN wants).  Usage::

    with FakeWhatsApp() as wa:
        wa.add_media("1234", b"...", "image/jpeg")
        connector = WhatsAppConnector({"token": wa.token, "api_base_url": wa.url,
                                       "wa_phone_number_id": wa.phone_id})
        wa.calls_of("messages")
"""

from __future__ import annotations

from .fake_meta import FakeAPI, Upload, graph_error, load_fixture, load_schema, schema_errors

__all__ = ["FakeWhatsApp", "graph_error", "load_fixture"]

#: Meta's own OpenAPI description of the Cloud API (an excerpt, see the file's ``_source``)
SCHEMA = load_schema("whatsapp", "business-messaging-api_v23.0.excerpt.json")
#: message type -> the schema of its content object
CONTENT_SCHEMAS = {
    "text": "TextMessage_1",
    "interactive": "InteractiveObject",
    "image": "MediaObject_1",
    "video": "MediaObject_1",
    "audio": "MediaObject_1",
    "document": "MediaObject_1",
}


class FakeWhatsApp(FakeAPI):
    def __init__(self, token="WA-TOKEN", phone_id="1122334455667"):
        super().__init__(token)
        self.phone_id = phone_id
        self.media = {}  # media id -> {"data", "mime_type", "file_size"}
        self.uploads = {}  # uploaded media id -> Upload
        self.sent = []  # every message the fake accepted
        self.received = set()  # wamids of clients' messages (a test adds those it delivered)
        self.read_marks = []  # accepted "status: read" calls (with or without the typing indicator)

    def add_media(self, media_id, data, mime_type="application/octet-stream", file_size=None, url=None):
        """Make inbound media ``media_id`` downloadable (``file_size`` may lie; ``url``: another address)."""
        self.add_file(f"media-{media_id}", data)
        size = len(data) if file_size is None else file_size
        self.media[str(media_id)] = {"mime_type": mime_type, "file_size": size, "url": url}

    def route(self, method, path):
        parts = path.strip("/").split("/")
        if parts[0] == "download":
            return "download", None
        if parts[0] == self.phone_id:
            if len(parts) == 1 and method == "GET":
                return "phone", self._phone
            if parts[1:] == ["messages"] and method == "POST":
                return "messages", self._messages
            if parts[1:] == ["media"] and method == "POST":
                return "media", self._upload
        if len(parts) == 1 and method == "GET":
            return "media_info", self._media_info
        return "unknown", None

    def _phone(self, params, path):
        return 200, {"id": self.phone_id, "display_phone_number": "+1 555 0100", "verified_name": "Fake Shop"}

    def _messages(self, params, path):
        if params.get("messaging_product") != "whatsapp":
            return graph_error(100, "(#100) The parameter messaging_product is required.")
        if "status" in params:
            return self._mark_read(params)
        to, kind = params.get("to"), params.get("type")
        content = params.get(kind) if kind else None
        if not to or not isinstance(content, dict):
            return graph_error(100, "(#100) Invalid parameter")
        root = {"components": SCHEMA["components"]}
        errors = schema_errors(params, {"$ref": "#/components/schemas/BaseMessageProperties"}, root)
        if kind in CONTENT_SCHEMAS:
            errors += schema_errors(content, {"$ref": f"#/components/schemas/{CONTENT_SCHEMAS[kind]}"}, root, kind)
        if kind == "text" and not (content.get("body") or "").strip():
            errors.append("text.body: empty")
        if kind == "interactive":
            errors += _unique_choices(content)
        if errors:
            return graph_error(131009, "(#131009) Parameter value is not valid", details="; ".join(errors))
        if kind in ("image", "document", "audio", "video") and content.get("id") not in self.uploads:
            return graph_error(131053, "Media upload error", details="Unknown media id")
        if kind == "template" and not (content.get("name") and (content.get("language") or {}).get("code")):
            return graph_error(132001, "Template name does not exist in the translation", details="name, language")
        self.sent.append(params)
        wamid = f"wamid.FAKE{self.next_id()}"
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

    def _mark_read(self, params):
        """Mark as read, with or without the typing indicator (developers.facebook.com/docs/whatsapp/cloud-api/
        guides/mark-message-as-read and .../typing-indicators): ``status`` must be ``read`` and ``message_id`` a
        wamid the business *received*; ``typing_indicator`` is ``{"type": "text"}``. Answer ``{"success": true}``."""
        if params.get("status") != "read":
            return graph_error(100, "(#100) Param status must be read")
        if params.get("message_id") not in self.received:
            return graph_error(100, "(#100) Invalid parameter", details="message_id: not a received message")
        typing = params.get("typing_indicator")
        if typing is not None and typing != {"type": "text"}:
            return graph_error(100, "(#100) Invalid parameter", details="typing_indicator.type must be text")
        self.read_marks.append(params)
        return 200, {"success": True}

    def _upload(self, params, path):
        upload = params.get("file")
        if not isinstance(upload, Upload) or params.get("messaging_product") != "whatsapp":
            return graph_error(100, "(#100) The parameter file is required.")
        media_id = str(self.next_id())
        self.uploads[media_id] = upload
        return 200, {"id": media_id}

    def _media_info(self, params, path):
        media_id = path.strip("/")
        info = self.media.get(media_id)
        if info is None:
            return graph_error(100, f"(#100) Unsupported get request. Object with ID '{media_id}' does not exist")
        return 200, {
            "messaging_product": "whatsapp",
            "url": info["url"] or f"{self.url}/download/media-{media_id}",
            "mime_type": info["mime_type"],
            "sha256": "fake",
            "file_size": info["file_size"],
            "id": media_id,
        }


def _unique_choices(interactive):
    """ActionObject: reply-button titles "cannot be empty, must be unique"; ids "unique", "no leading/trailing
    spaces"; list rows likewise unique (facebook/openapi ActionObject, SectionObject descriptions)."""
    action = interactive.get("action") or {}
    items = [b.get("reply") or {} for b in action.get("buttons") or []]
    items += [row for section in action.get("sections") or [] for row in section.get("rows") or []]
    ids, titles = [str(i.get("id") or "") for i in items], [str(i.get("title") or "") for i in items]
    errors = []
    if len(set(ids)) < len(ids) or any(not i or i != i.strip() for i in ids):
        errors.append("action: ids must be unique, without leading/trailing spaces")
    if len(set(titles)) < len(titles) or not all(t.strip() for t in titles):
        errors.append("action: titles must be unique and not empty")
    if sum(len(section.get("rows") or []) for section in action.get("sections") or []) > 10:
        errors.append("action.sections: at most 10 rows in all")
    return errors
