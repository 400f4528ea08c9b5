"""Bring the addon's record rules that 19.0.1.1.0 changed up to date.

The rules are loaded with ``noupdate="1"`` (an administrator may tune them), so ``-u`` keeps the
previous version's domains.  A rule still holding the previous version's own domain is given the
new one from the data file; a rule an administrator changed is left as it is (and logged).
"""

import logging

from lxml import etree

from odoo import SUPERUSER_ID, api
from odoo.tools.misc import file_path

_logger = logging.getLogger(__name__)

#: xml id -> the domain 19.0.1.0.0 installed
PREVIOUS = {
    "openlines_discuss_channel_rule_supervised": (
        "[(1, '=', 1)] if user.has_group('openlines_connector.group_openlines_admin') else "
        "['|', '|', '|', ('openlines_dialog_id', '=', False), ('is_member', '=', True), "
        "('openlines_dialog_id.line_id.supervisor_ids', '=', False), "
        "('openlines_dialog_id.line_id.supervisor_ids', 'in', user.id)]"
    ),
}


def migrate(cr, version):
    if not version:
        return
    env = api.Environment(cr, SUPERUSER_ID, {})
    tree = etree.parse(file_path("openlines_connector/security/openlines_security.xml"))
    for name, previous in PREVIOUS.items():
        [node] = tree.xpath(f"//record[@id='{name}']/field[@name='domain_force']")
        rule = env.ref(f"openlines_connector.{name}", raise_if_not_found=False)
        if not rule or rule.domain_force == node.text:
            continue
        if rule.domain_force.strip() == previous:
            rule.domain_force = node.text
        else:
            _logger.warning("Open Lines: record rule %s was changed by hand; not updated to 19.0.1.1.0's", name)
