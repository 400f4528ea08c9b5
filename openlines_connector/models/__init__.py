from . import openlines_line
from . import openlines_line_operator
from . import openlines_channel
from . import openlines_contact
from . import openlines_dialog
from . import openlines_dialog_routing
from . import openlines_dialog_rating
from . import openlines_message
from . import openlines_message_queue  # claims, attempts and limits of the inbound queue (issue 19)
from . import openlines_message_company
from . import openlines_channel_health  # after openlines_message: extends both models
from . import openlines_message_consent
from . import openlines_message_delivery
from . import mail_message
from . import mail_notification
from . import openlines_message_notification
from . import openlines_whatsapp_template
from . import discuss_channel
from . import im_livechat_channel
from . import mail_bot
from . import res_config_settings
from . import openlines_line_crm
from . import openlines_contact_crm
from . import openlines_contact_merge
from . import openlines_dialog_crm
from . import res_partner
from . import crm_lead
from . import openlines_line_kpi
from . import openlines_dialog_kpi
from . import discuss_channel_crm
from . import chatbot_script_step_crm

# chatbot on messengers (issue 4)
from . import openlines_line_chatbot
from . import openlines_dialog_chatbot
from . import openlines_message_chatbot
from . import openlines_channel_apple, openlines_contact_apple, openlines_message_apple  # Apple (issue 14)
from . import openlines_demo
from . import (
    discuss_channel_openlines,
    openlines_line_transfer,
    openlines_dialog_transfer,
    openlines_dialog_discuss,
)  # working in Discuss (issue 16)
from . import openlines_signal, discuss_channel_member  # typing and read marks (issue 16)
from . import openlines_message_typing  # the client's typing shown in Discuss, every messenger (issue 16)
from . import (
    rating_rating,
    openlines_dialog_search,
    openlines_line_noanswer,
    openlines_dialog_noanswer,
)  # ratings, search, no-answer text (issue 16)

# the line governs the site widget (issue 16)
from . import res_users_agents, res_groups_agents, openlines_dialog_widget, discuss_channel_widget
