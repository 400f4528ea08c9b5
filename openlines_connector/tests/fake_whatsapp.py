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

from .fake_meta import FakeAPI, Upload, graph_error, load_fixture

__all__ = ["FakeWhatsApp", "graph_error", "load_fixture"]


class FakeWhatsApp(FakeAPI):
    def __init__(self, token="WA-TOKEN", phone_id="1122334455667"):
        super().__init__(token)
        self.phone_id = phone_id
        self.media = {}  # media id -> {"data", "mime_type", "file_size"}
        self.uploads = {}  # uploaded media id -> Upload

    def add_media(self, media_id, data, mime_type="application/octet-stream", file_size=None):
        """Make inbound media ``media_id`` downloadable (``file_size`` may lie)."""
        self.add_file(f"media-{media_id}", data)
        self.media[str(media_id)] = {"mime_type": mime_type, "file_size": len(data) if file_size is None else file_size}

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
        to, kind = params.get("to"), params.get("type")
        content = params.get(kind) if kind else None
        if not to or not isinstance(content, dict):
            return graph_error(100, "(#100) Invalid parameter")
        if kind == "text" and not (0 < len(content.get("body") or "") <= 4096):
            return graph_error(100, "(#100) Param text['body'] must be at most 4096 characters long.")
        if kind in ("image", "document", "audio", "video") and content.get("id") not in self.uploads:
            return graph_error(131053, "Media upload error", details="Unknown media id")
        if kind == "template" and not (content.get("name") and (content.get("language") or {}).get("code")):
            return graph_error(132001, "Template name does not exist in the translation", details="name, language")
        if kind == "interactive" and len((content.get("action") or {}).get("buttons") or []) > 3:
            return graph_error(131009, "(#131009) Parameter value is not valid", details="buttons: max 3")
        wamid = f"wamid.FAKE{self.next_id()}"
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": wamid}],
        }

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
            "url": f"{self.url}/download/media-{media_id}",
            "mime_type": info["mime_type"],
            "sha256": "fake",
            "file_size": info["file_size"],
            "id": media_id,
        }
