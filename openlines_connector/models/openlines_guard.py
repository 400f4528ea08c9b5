"""Who may write what on Open Lines records, and who may act on them.

Record rules say *which* records a user reaches; they say nothing about
*which fields* he may change on them. The fields that tie a dialog or a
contact to its conversation, client, channel, line, lead, operator, figures
and rating are the addon's to write: its own code writes them in sudo mode,
after checking the caller's right to the action (``action_take``,
``action_transfer``...). A user write of them is refused unless the user is
an Open Lines administrator.
"""

from odoo.exceptions import AccessError

ADMIN = "openlines_connector.group_openlines_admin"
DIRECTOR = "openlines_connector.group_openlines_director"
MANAGER = "openlines_connector.group_openlines_manager"


def check_system_fields(records, vals, user_fields):
    """Refuse a user's write of any field of ``vals`` outside ``user_fields``.

    The addon's own code writes in sudo mode; administrators may write anything.
    Checked before anything is written (and before any messenger is called).
    """
    env = records.env
    if env.su or not vals:
        return
    forbidden = [name for name in vals if name not in user_fields]
    if forbidden and not env.user.has_group(ADMIN):
        labels = ", ".join(records._fields[name]._description_string(env) for name in forbidden)
        raise AccessError(
            env._(
                "%(fields)s of %(model)s are set by Open Lines itself; only an Open Lines administrator may change "
                "them.",
                fields=labels,
                model=records._description,
            )
        )


def mail_fields(env):
    """The chatter's fields (followers, messages, activities): users write them through the chatter."""
    return set(env["mail.thread"]._fields) | set(env["mail.activity.mixin"]._fields)


def require_group(env, group, message):
    """Raise ``AccessError(message)`` unless the user (or sudo) has ``group``."""
    if not env.su and not env.user.has_group(group):
        raise AccessError(message)


def fill_company(env, vals_list, parent_field, parent_model):
    """Give each new record of ``vals_list`` the company of its parent (``parent_field``) when none is set."""
    for vals in vals_list:
        if "company_id" not in vals and vals.get(parent_field):
            # sudo: the parent's company, whatever the creating user may read of the parent
            vals["company_id"] = env[parent_model].sudo().browse(vals[parent_field]).company_id.id
    return vals_list
