import base64
import re

from odoo import api, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import email_normalize

from .openlines_guard import DIRECTOR, require_group

#: messengers whose user ids are the same person on every account of the company
#: (a Telegram user has one id for every bot; a VK user one id for every community)
SHARED_USER_IDS = ("telegram", "vk", "whatsapp")


class OpenlinesContact(models.Model):
    """Matching a new contact with the client's partner; merging and splitting clients.

    A new contact is matched, in this order: by phone (E.164, with Odoo's phone
    helpers), by e-mail, by the same person on another channel of the company
    (same phone, or the same user id where the messenger shares ids between
    accounts); else a partner is created from what the messenger tells.
    """

    _inherit = "openlines.contact"

    # -- matching ------------------------------------------------------------
    @api.model
    def _normalize_phone(self, number):
        """E.164 (``+79161234567``) when Odoo's phone helpers can parse ``number``; else its digits."""
        number = (number or "").strip()
        if not number:
            return ""
        formatted = self.env["res.partner"]._phone_format(number=number, raise_exception=False)
        if formatted and formatted.startswith("+") and formatted[1:].isdigit():
            return formatted
        digits = re.sub(r"[^\d]", "", number)
        if number.startswith("+") or number.startswith("00"):
            return "+" + digits.removeprefix("00") if digits else ""
        return digits

    @api.model
    def _match_partner(self, channel, event):
        """The partner the client of ``event`` already is, or an empty recordset."""
        company = channel.line_id.company_id
        # sudo: res.partner - matching a client looks at every partner of the company
        Partner = self.env["res.partner"].sudo()
        # an employee's own partner is never a client: their answers would pass for the client's
        company_domain = Domain("company_id", "in", [False, *company.ids]) & (
            Domain("user_ids", "=", False) | Domain("user_ids.share", "=", True)
        )
        phones = self._phone_candidates(event.phone)
        if phones:
            domain = Domain("phone_sanitized", "in", phones) | Domain("phone_mobile_search", "in", phones)
            partner = Partner.search(company_domain & domain, order="id", limit=1)
            if partner:
                return partner
        email = email_normalize(getattr(event, "email", "") or "")
        if email:
            partner = Partner.search(company_domain & Domain("email_normalized", "=", email), order="id", limit=1)
            if partner:
                return partner
        return self._match_other_channel(channel, event, phones)

    @api.model
    def _phone_candidates(self, number):
        """The forms a client's number is stored in: E.164, and ``+`` added to bare digits
        (messengers such as WhatsApp give international numbers without it)."""
        phone = self._normalize_phone(number)
        if len(phone) < 5:
            return []
        return [phone, "+" + phone] if phone.isdigit() else [phone]

    @api.model
    def _match_other_channel(self, channel, event, phones):
        """The partner of the same person on another channel of the company."""
        same_person = []
        if phones:
            same_person.append(Domain("phone", "in", phones))
        if event.user_id and channel.channel_type in SHARED_USER_IDS:
            same_person.append(
                Domain("channel_type", "=", channel.channel_type) & Domain("external_user_id", "=", event.user_id)
            )
        if not same_person:
            return self.env["res.partner"]
        company = channel.line_id.company_id
        domain = (
            Domain("channel_id", "!=", channel.id)
            & Domain("line_id.company_id", "in", [False, *company.ids])
            & Domain.OR(same_person)
        )
        # sudo: openlines.contact - the client's contacts on other channels, whoever processes the message
        return self.sudo().search(domain, order="id", limit=1).partner_id

    @api.model
    def _create_partners(self, channel_events):
        """New partners with what the messenger tells about each client, in one ``create``."""
        return self.env["res.partner"].create([self._partner_vals(channel, event) for channel, event in channel_events])

    @api.model
    def _partner_vals(self, channel, event):
        name = event.name or event.username or event.chat_id
        if event.username:
            comment = self.env._(
                "Client from %(channel)s, @%(username)s", channel=channel.name, username=event.username
            )
        else:
            comment = self.env._("Client from %(channel)s", channel=channel.name)
        # a client belongs to the line's company: another company's line never matches them
        vals = {"name": name, "phone": event.phone or False, "comment": comment, "company_id": channel.company_id.id}
        lang = self._partner_lang(event.lang)
        if lang:
            vals["lang"] = lang
        avatar = getattr(event, "avatar", None)
        if avatar:
            vals["image_1920"] = base64.b64encode(avatar)
        if getattr(event, "email", ""):
            vals["email"] = event.email
        return vals

    @api.model
    def _partner_lang(self, code):
        """The installed language matching a messenger's code (``ru`` → ``ru_RU``), if any."""
        if not code:
            return False
        code = code.replace("-", "_")
        installed = [lang for lang, _name in self.env["res.lang"].get_installed()]
        exact = [lang for lang in installed if lang.lower() == code.lower()]
        prefixed = [lang for lang in installed if lang.split("_")[0].lower() == code.split("_")[0].lower()]
        return (exact or prefixed or [False])[0]

    def _complete_partner(self, event):
        """A phone the client shared later reaches their partner when the partner has none."""
        self.ensure_one()
        if event.phone and not self.partner_id.phone:
            # sudo: res.partner - the client's own phone, shared by the client
            self.partner_id.sudo().phone = event.phone

    # -- merge and split -----------------------------------------------------
    def _move_to_partner(self, partner):
        """Tie these contacts, and their dialogs, to ``partner``.

        Open dialogs keep working: the new partner replaces the old one as the
        visitor of their Discuss sessions, and the client's next message is
        posted as them. Past messages keep their author.
        """
        partner.ensure_one()
        self.write({"partner_id": partner.id})
        # sudo: openlines.dialog - every dialog of the moved contacts follows them
        dialogs = self.sudo().dialog_ids.filtered(lambda d: d.partner_id != partner)
        Member = self.env["discuss.channel.member"].sudo()  # sudo: discuss.channel.member - see above
        for dialog in dialogs:
            members = dialog.discuss_channel_id.channel_member_ids.sudo()
            old = members.filtered(
                lambda m, p=dialog.partner_id: m.partner_id == p and m.livechat_member_type == "visitor"
            )
            if partner not in members.partner_id:
                Member.create(
                    {
                        "channel_id": dialog.discuss_channel_id.id,
                        "partner_id": partner.id,
                        "livechat_member_type": "visitor",
                    }
                )
            old.unlink()
        dialogs.write({"partner_id": partner.id})

    def _check_merge(self, partner):
        """The caller may merge or split these contacts (a director who reaches them), into
        ``partner``: a client (no employee's partner) of the contacts' company."""
        require_group(self.env, DIRECTOR, self.env._("Only Open Lines directors merge and split clients."))
        self.check_access("write")
        partner.check_access("read")
        if len(self.company_id) > 1:
            raise UserError(self.env._("Contacts of several companies cannot be merged."))
        partner = partner.sudo()  # sudo: res.partner - whose partner it is, whatever the caller may read
        if partner.user_ids.filtered(lambda u: not u.share):
            raise UserError(self.env._("%(partner)s is a user of this database, not a client.", partner=partner.name))
        if partner.company_id and self.company_id != partner.company_id:
            raise UserError(
                self.env._("%(partner)s belongs to another company than these contacts.", partner=partner.name)
            )

    def action_split(self):
        """Give each contact a partner of its own (a client wrongly matched with another)."""
        require_group(self.env, DIRECTOR, self.env._("Only Open Lines directors merge and split clients."))
        self.check_access("write")
        for contact in self.sudo():  # sudo: the caller's rights are checked above; the ties are the addon's
            partner = contact.env["res.partner"].create(
                {
                    "name": contact.name,
                    "phone": contact.phone or False,
                    "company_id": contact.company_id.id,
                    "comment": self.env._("Client from %(channel)s", channel=contact.channel_id.name),
                }
            )
            contact._move_to_partner(partner)
        return True
