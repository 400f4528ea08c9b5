from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .openlines_channel import ADMIN


class OpenlinesChannel(models.Model):
    """Apple Messages for Business: the company's own MSP account and one Business id.

    ``apple`` is already one of the channel types (``CHANNEL_TYPES``); the
    connector registered in ``connectors/apple.py`` makes it usable.  The MSP
    API secret is kept in ``token`` (admin-only, never copied), shown on the
    form as ``apple_msp_secret``; the connector gets it as its token.
    """

    _inherit = "openlines.channel"

    apple_business_id = fields.Char(
        "Apple Business ID",
        groups=ADMIN,
        copy=False,
        help="The Business ID Apple Business Register shows for the Messages for Business account "
        "(Apple posts it as destination-id).",
    )
    apple_msp_id = fields.Char(
        "MSP ID",
        groups=ADMIN,
        copy=False,
        help="Your Messaging Service Provider ID, from Apple Business Register.",
    )
    apple_msp_secret = fields.Char(
        "MSP API secret",
        related="token",
        readonly=False,
        groups=ADMIN,
        help="The API secret passphrase (Base64 text) Apple Business Register generated for your MSP account.",
    )

    @api.constrains("channel_type", "receive_mode")
    def _check_apple_receive_mode(self):
        for channel in self:
            if channel.channel_type == "apple" and channel.receive_mode != "webhook":
                raise ValidationError(
                    self.env._("Apple Messages for Business delivers messages to a webhook only: it cannot be polled.")
                )

    def _call(self, method, *args):
        self.ensure_one()
        channel = self.sudo()  # sudo: openlines.channel - only checks that the credentials are filled
        filled = channel.apple_business_id and channel.apple_msp_id and channel.token
        if channel.channel_type == "apple" and not filled:
            raise UserError(
                self.env._(
                    "Enter the Apple Business ID, the MSP ID and the MSP API secret on channel %(name)s first.",
                    name=self.name,
                )
            )
        return super()._call(method, *args)
