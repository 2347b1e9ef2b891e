"""`python -m services.responder`"""

import sys

from shared import heap

heap.keep_out_unused_modules()  # before the imports that would load them

from services.responder.service import SETTINGS, build_stage  # noqa: E402
from shared.service import run_service  # noqa: E402

sys.exit(run_service(SETTINGS, build_stage))
