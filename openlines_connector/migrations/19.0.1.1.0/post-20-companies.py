"""19.0.1.1.0: every Open Lines record carries its line's company; stored payloads lose the VK secret.

The update adds ``company_id`` to channels (related to the line: computed by the ORM), contacts,
dialogs and the message log, filling existing rows with the default company; here each row gets
its line's company instead, in one statement per table. A line that had no company gets the
company the update ran with (the default).
Issue 18, finding 18: a VK request carries the webhook secret in its body, and an inbound row
keeps its body until processed (for good when it was ignored or failed): the secret goes.
"""

import json
import logging

from odoo.addons.openlines_connector.models.openlines_channel import SCRUBBED, scrub_secrets

_logger = logging.getLogger(__name__)


def _fill_companies(cr):
    cr.execute(
        """UPDATE openlines_dialog d SET company_id = l.company_id
             FROM openlines_line l
            WHERE d.line_id = l.id AND l.company_id IS NOT NULL AND d.company_id IS DISTINCT FROM l.company_id"""
    )
    dialogs = cr.rowcount
    cr.execute(
        """UPDATE openlines_contact t SET company_id = l.company_id
             FROM openlines_channel c JOIN openlines_line l ON l.id = c.line_id
            WHERE t.channel_id = c.id AND l.company_id IS NOT NULL AND t.company_id IS DISTINCT FROM l.company_id"""
    )
    contacts = cr.rowcount
    cr.execute(
        """UPDATE openlines_message m SET company_id = l.company_id
             FROM openlines_channel c JOIN openlines_line l ON l.id = c.line_id
            WHERE m.channel_id = c.id AND l.company_id IS NOT NULL AND m.company_id IS DISTINCT FROM l.company_id"""
    )
    _logger.info(
        "Open Lines: company of %s dialogs, %s contacts, %s log rows set from their line",
        dialogs,
        contacts,
        cr.rowcount,
    )


def _fill_client_partners(cr):
    """Client partners the previous version created had no company: each gets its contacts' company
    (as new clients do), so that a phone writing to another company's line is not tied to it.
    Left alone: users' partners, partners with a company, and those whose contacts span companies."""
    cr.execute(
        """UPDATE res_partner p SET company_id = o.company_id
             FROM (SELECT t.partner_id, min(t.company_id) AS company_id
                     FROM openlines_contact t
                    WHERE t.partner_id IS NOT NULL AND t.company_id IS NOT NULL
                 GROUP BY t.partner_id HAVING count(DISTINCT t.company_id) = 1) o
            WHERE p.id = o.partner_id AND p.company_id IS NULL
              AND NOT EXISTS (SELECT 1 FROM res_users u WHERE u.partner_id = p.id)"""
    )
    _logger.info("Open Lines: company of %s client partners set from their contacts", cr.rowcount)


def _scrub_vk_secrets(cr):
    cr.execute(
        """SELECT m.id, m.payload, c.webhook_secret FROM openlines_message m
             JOIN openlines_channel c ON c.id = m.channel_id
            WHERE c.channel_type = 'vk' AND m.payload IS NOT NULL AND c.webhook_secret IS NOT NULL
              AND length(c.webhook_secret) >= 6 AND strpos(m.payload, c.webhook_secret) > 0"""
    )
    rows = cr.fetchall()
    for row_id, payload, secret in rows:
        try:
            scrubbed = json.dumps(scrub_secrets(json.loads(payload), [secret]), ensure_ascii=False)
        except ValueError:
            scrubbed = payload.replace(secret, SCRUBBED)
        cr.execute("UPDATE openlines_message SET payload = %s WHERE id = %s", (scrubbed, row_id))
    _logger.info("Open Lines: the VK secret removed from %s stored requests", len(rows))


def migrate(cr, version):
    if not version:
        return
    _fill_companies(cr)
    _fill_client_partners(cr)
    _scrub_vk_secrets(cr)
