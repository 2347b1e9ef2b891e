"""`python -m services.reviewer`"""

import sys

from services import main

sys.exit(main("reviewer"))
