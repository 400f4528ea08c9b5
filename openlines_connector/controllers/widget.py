from odoo.http import request, route

from odoo.addons.im_livechat.controllers.main import LivechatController
from odoo.addons.im_livechat.controllers.webclient import WebClient


class OpenlinesWidgetWebClient(WebClient):
    """The site widget of a line is offered as long as the line is active and has operators.

    im_livechat offers a widget only while an operator is online; a line's widget stays offered
    when nobody can answer right now (the visitor waits in the line's queue, or reads its
    off-hours text, as a messenger client does), and is never offered by an archived line
    (``im_livechat.channel._is_livechat_available`` says the same to the loader script).
    """

    @classmethod
    def _process_request_for_all(cls, store, name, params):
        super()._process_request_for_all(store, name, params)
        if name != "init_livechat":
            return
        # sudo: im_livechat.channel - whether the channel is a line's, as im_livechat reads it
        livechat_channel = request.env["im_livechat.channel"].sudo().search([("id", "=", params)])
        line = livechat_channel._openlines_line()
        if not line:
            return
        country = (
            # sudo: res.country - the visitor's country, as im_livechat reads it
            request.env["res.country"].sudo().search([("code", "=", code)]).id
            if (code := request.geoip.country_code)
            else None
        )
        # sudo: im_livechat.channel.rule - the page's rule may hide the button
        rule = (
            request.env["im_livechat.channel.rule"]
            .sudo()
            .match_rule(livechat_channel.id, request.httprequest.headers.get("Referer"), country)
        )
        store.add_global_values(livechat_available=rule.action != "hide_button" and line._widget_open())


class OpenlinesWidgetLivechat(LivechatController):
    """A session of a line that does not ask for a rating takes none (its widget shows no rating form)."""

    @route()
    def feedback(self, channel_id, rate, reason=None, **kwargs):
        # sudo: discuss.channel - only whether the session's line asks for a rating; the visitor's
        # access to the session is checked by im_livechat as usual
        session = request.env["discuss.channel"].sudo().search([("id", "=", channel_id)])
        if session and not session._openlines_rating_request():
            return False
        return super().feedback(channel_id, rate, reason=reason, **kwargs)
