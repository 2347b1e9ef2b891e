"""`python -m services.validator`"""

import sys

from services import main

sys.exit(main("validator"))
