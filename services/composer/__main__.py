"""`python -m services.composer`"""

import sys

from services import main

sys.exit(main("composer"))
