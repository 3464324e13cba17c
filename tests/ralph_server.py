"""Run by the Ralph venv's Python (tests/ralph_lrs.py), not by the project's: the Ralph LRS app
under uvicorn on 127.0.0.1:<port>.

Ralph's filesystem backend writes its one statements file in CREATE mode, which refuses every
write after the first (a second POST answers 500); APPEND mode is what an LRS that takes
statements request after request needs. Everything else is Ralph as released: its xAPI API,
its statement validation, its duplicate handling and its queries.
"""

import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
