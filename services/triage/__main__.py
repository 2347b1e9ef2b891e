"""`python -m services.triage`"""

import sys

from services.triage.service import SETTINGS, build_stage
from shared.service import run_service

sys.exit(run_service(SETTINGS, build_stage))
