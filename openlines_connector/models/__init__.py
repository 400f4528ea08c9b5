from . import openlines_line
from . import openlines_channel
from . import openlines_contact
from . import openlines_dialog
from . import openlines_message
from . import discuss_channel
from . import res_config_settings
