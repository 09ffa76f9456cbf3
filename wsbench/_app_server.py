"""Serve one ASGI app on 127.0.0.1 for the upgrade check, in an environment without wsbench.

Run as ``python -c SOURCE module:attr --ws IMPL`` with the interpreter of
an environment that :mod:`wsbench.upgrade` made; it imports nothing of wsbench, only uvicorn and
the app. It prints ``WSBENCH-READY <port>`` on stdout once uvicorn accepts connections (and
``WSBENCH-READY`` on stderr just before, marking where the start-up log ends), writes
uvicorn's log records to stderr as ``LEVEL: message`` (the form of ``wsbench.server_log()``), and
stops on SIGTERM or SIGINT, or when its stdin closes (so it never outlives the check).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import threading

__all__ = ["main"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app")
    parser.add_argument("--ws", default="auto")
    args = parser.parse_args()

    import uvicorn

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    for name in ("uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    config = uvicorn.Config(args.app, host="127.0.0.1", port=0, ws=args.ws, log_config=None, lifespan="auto")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():  # start-up failed: uvicorn said why on stderr
                await task
                sys.exit(3)
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        print("WSBENCH-READY", file=sys.stderr, flush=True)  # the log from here on is the conversation's
        print(f"WSBENCH-READY {port}", flush=True)
        await task

    def stop_when_stdin_closes() -> None:
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_when_stdin_closes, daemon=True).start()
    asyncio.run(serve())


if __name__ == "__main__":
    main()
