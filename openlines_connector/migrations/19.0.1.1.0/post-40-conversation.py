"""19.0.1.1.0, issue 17: incoming messages are processed in parallel by conversation.

The rows still waiting (pending, to retry, held until consent) get their
conversation (the chat id), read from their payload as at ingest
(``tools/conversation.py``); the rows already processed need none.
"""

import json
import logging

from odoo.addons.openlines_connector.tools.conversation import conversation_of

_logger = logging.getLogger(__name__)


def migrate(cr, version):
    cr.execute(
        """SELECT m.id, c.channel_type, m.payload FROM openlines_message m
             JOIN openlines_channel c ON c.id = m.channel_id
            WHERE m.direction = 'in' AND m.state IN ('pending', 'retry', 'held') AND m.conversation IS NULL"""
    )
    keys = {}
    for row_id, channel_type, payload in cr.fetchall():
        try:
            data = json.loads(payload or "{}")
        except ValueError:
            data = None
        keys[row_id] = conversation_of(channel_type, data)
    if keys:
        cr.execute(
            """UPDATE openlines_message m SET conversation = k.conv
                 FROM unnest(%s::int[], %s::varchar[]) AS k(id, conv) WHERE m.id = k.id""",
            (list(keys), list(keys.values())),
        )
    _logger.info("Open Lines: %s waiting incoming messages given their conversation", len(keys))
