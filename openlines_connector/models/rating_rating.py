from odoo import api, models


class RatingRating(models.Model):
    """A rating of a dialog's Discuss session (the site widget's stars and comment, or a messenger
    client's answer stored by ``_apply_rating``) is copied on the dialog, where managers look."""

    _inherit = "rating.rating"

    @api.model_create_multi
    def create(self, vals_list):
        ratings = super().create(vals_list)
        ratings._openlines_copy_to_dialogs()
        return ratings

    def write(self, vals):
        res = super().write(vals)
        if {"rating", "feedback", "consumed", "res_id", "res_model_id"}.intersection(vals):
            self._openlines_copy_to_dialogs()
        return res

    def _openlines_copy_to_dialogs(self):
        for rating in self.filtered(lambda r: r.res_model == "discuss.channel" and r.res_id and r.consumed):
            # sudo: discuss.channel, openlines.dialog - the rating is the client's, whoever stores it
            dialog = self.env["discuss.channel"].sudo().browse(rating.res_id).openlines_dialog_id
            if dialog:
                dialog._on_session_rating(rating)
