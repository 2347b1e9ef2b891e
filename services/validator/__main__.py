"""`python -m services.validator`"""

import sys

from services.validator.service import SETTINGS, build_stage
from shared.service import run_service

sys.exit(run_service(SETTINGS, build_stage))
