"""`python -m services.responder`"""

import sys

from services.responder.service import SETTINGS, build_stage
from shared.service import run_service

sys.exit(run_service(SETTINGS, build_stage))
