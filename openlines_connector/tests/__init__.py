from . import test_connector_telegram
from . import test_connector_whatsapp
from . import test_connector_viber
from . import test_connector_meta
from . import test_flow_whatsapp_viber_meta
from . import test_connector_vk
from . import test_connector_ok
from . import test_connector_avito
from . import test_flow_vk_ok_avito
from . import test_webhook
from . import test_inbound
from . import test_outbound
from . import test_channel_actions
from . import test_site_chat
from . import test_security
from . import test_query_count
from . import test_resident
from . import test_crm
from . import test_roles
from . import test_kpi
from . import test_tour
from . import test_i18n
from . import test_routing
from . import test_chatbot  # chatbot on messengers (issue 4)
from . import test_faults
from . import test_health
from . import test_delivery_display
from . import test_connector_apple, test_flow_apple  # Apple Messages for Business (issue 14)
from . import test_attacks  # roles against every write, action and URL (issue 18)
from . import test_fetch_guard, test_queue_limits  # outbound fetches, queue limits (issues 18, 19)
from . import test_companies  # each company's Open Lines records are its own (issue 18)
from . import test_discuss_actions, test_tour_discuss  # working in Discuss (issue 16)
