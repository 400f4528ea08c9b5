from . import webhook
from . import discuss  # the Open Lines queue in Discuss (issue 16)
from . import widget  # a line's site widget follows the line (issue 16)
