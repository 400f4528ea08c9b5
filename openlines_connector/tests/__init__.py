from . import test_connector_telegram
from . import test_webhook
from . import test_inbound
from . import test_outbound
from . import test_channel_actions
from . import test_site_chat
from . import test_security
from . import test_query_count
