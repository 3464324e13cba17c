"""``python -m console``: serve the console (SONGJI_CONSOLE_PORT, default 8000)."""

from __future__ import annotations

import os

import uvicorn

from console.app import create_app


def main() -> None:
    uvicorn.run(create_app(), host=os.environ.get("SONGJI_CONSOLE_HOST", "127.0.0.1"),
                port=int(os.environ.get("SONGJI_CONSOLE_PORT", "8000")), log_level="warning")


if __name__ == "__main__":
    main()
