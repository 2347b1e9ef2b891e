"""`python -m services.responder`"""

import sys

from services import main

sys.exit(main("responder"))
