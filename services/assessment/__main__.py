from services.assessment.app import SPEC
from shared.runtime.main import run_service

run_service(SPEC)
