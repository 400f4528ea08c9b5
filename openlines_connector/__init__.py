from . import connectors
from . import models
from . import report
from . import controllers
