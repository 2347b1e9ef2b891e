"""`python -m services.intake`"""

import sys

from services.intake.service import SETTINGS, build_stage
from shared.service import run_service

sys.exit(run_service(SETTINGS, build_stage))
