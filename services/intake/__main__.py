"""`python -m services.intake`"""

import sys

from services import main

sys.exit(main("intake"))
