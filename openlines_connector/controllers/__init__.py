from . import webhook
from . import discuss  # the Open Lines queue in Discuss (issue 16)
