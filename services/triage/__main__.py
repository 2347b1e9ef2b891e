"""`python -m services.triage`"""

import sys

from services import main

sys.exit(main("triage"))
