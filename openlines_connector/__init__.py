from . import connectors
from . import tools
from . import models
from . import report
from . import controllers
