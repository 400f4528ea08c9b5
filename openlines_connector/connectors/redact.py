"""Secrets out of error texts, in every encoding they may travel in (no ORM).

A token reaches an error message raw (a URL printed by ``requests``),
percent-encoded (a query string, with ``quote`` or ``quote_plus``, upper or
lower case hex), JSON-escaped (an API echoing the request body) or base64
(an ``Authorization`` header): :func:`scrub` replaces each form.
"""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

PLACEHOLDER = "<secret>"


def _forms(secret):
    raw = secret.encode()
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for encoded in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        forms.update((encoded, encoded.rstrip("=")))
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(text, *secrets):
    """``text`` (anything ``str()`` takes) with every form of each secret replaced by a placeholder."""
    text = str(text)
    for secret in secrets:
        if not secret or len(secret) < 4:  # a 1-3 character "secret" would blank half the text
            continue
        for form in _forms(str(secret)):
            flags = re.IGNORECASE if "%" in form else 0  # %3a and %3A are the same byte
            text = re.sub(re.escape(form), PLACEHOLDER, text, flags=flags)
    return text
