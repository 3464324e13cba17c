from services.employment.app import SPEC
from shared.runtime.main import run_service

run_service(SPEC)
