"""The conversation of a stored inbound request, read from its raw payload at ingest.

The processing cron handles different conversations in parallel and one
conversation's rows in order (``openlines.message._claim_conversations``): each
row needs its conversation key before it is parsed. A connector's ``parse``
may call the messenger (Avito reads the item of a chat, VK answers a button),
so the key is read here from the raw dict, without any call: the chat id the
connector's parse would give the event (``InboundEvent.chat_id``).

A payload this cannot read gives ``""``: such rows form one conversation per
channel (handled one at a time, in order), never a wrong parallelism.
"""


def _sid(value):
    return "" if value is None or value is False else str(value)


def _dict(value):
    return value if isinstance(value, dict) else {}


def _first(items):
    return _dict(items[0]) if isinstance(items, list) and items else {}


def _telegram(payload):
    # connectors/telegram.py _person: chat.id, else the sender's id (callback queries: the message's chat)
    for key, obj in payload.items():
        if key == "update_id" or not isinstance(obj, dict):
            continue
        chat = _dict(obj.get("chat")) or _dict(_dict(obj.get("message")).get("chat"))
        return _sid(chat.get("id", _dict(obj.get("from")).get("id")))
    return ""


def _viber(payload):
    user = _dict(payload.get("sender")) or _dict(payload.get("user"))
    return _sid(user.get("id") or payload.get("user_id") or "")


def _vk(payload):
    obj = _dict(payload.get("object"))
    message = _dict(obj.get("message")) or obj
    return _sid(message.get("peer_id") or obj.get("peer_id") or obj.get("user_id") or message.get("from_id") or "")


def _whatsapp(payload):
    value = _dict(_first(_first(payload.get("entry")).get("changes")).get("value"))
    message = _first(value.get("messages"))
    if message:
        return _sid(message.get("from") or "")
    return _sid(_first(value.get("statuses")).get("recipient_id") or "")


def _meta(payload):
    entry = _first(payload.get("entry"))
    item = _first(entry.get("messaging"))
    return _sid(_dict(item.get("sender")).get("id") or "")


def _ok(payload):
    return _sid(_dict(payload.get("recipient")).get("chat_id") or "")


def _avito(payload):
    return _sid(_dict(_dict(payload.get("payload")).get("value")).get("chat_id") or "")


def _apple(payload):
    return _sid(payload.get("sourceId") or "")


READERS = {
    "telegram": _telegram,
    "viber": _viber,
    "vk": _vk,
    "whatsapp": _whatsapp,
    "messenger": _meta,
    "instagram": _meta,
    "ok": _ok,
    "avito": _avito,
    "apple": _apple,
}


def conversation_of(channel_type, payload):
    """The chat id of ``payload`` (a dict) for a channel of ``channel_type``; ``""`` when unknown."""
    reader = READERS.get(channel_type)
    if reader is None or not isinstance(payload, dict):
        return ""
    try:
        return reader(payload)[:128]
    except (AttributeError, TypeError, ValueError, KeyError):
        return ""
