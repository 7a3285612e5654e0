"""moto in a process of its own: ``python -m orcid_sync_local.moto_process [--install module:function ...]``.

The local stack runs moto in its own process by default (``servers.start_moto``), where the glue's stand-ins
sit in front of it (SNS delivering to Lambda, SES's events). The benchmarks start it here instead
(``LocalStack(aws_process=...)``): on AWS, DynamoDB's work is not done on a Lambda's CPU, and in one Python
process moto and the functions take turns under one GIL, so the local wall times measured moto. The same
server (DynamoDB requests made atomic) serves here; each ``--install`` names a function called first, to
patch moto in this process (the benchmarks' ``bench.partition_query:install``). Prints the URL, then
serves until its standard input closes or it is terminated.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import threading

from .servers import start_moto, stop_moto


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orcid_sync_local.moto_process")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--install", action="append", default=[], metavar="MODULE:FUNCTION")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server would log every request
    for target in args.install:
        module_name, _, function_name = target.partition(":")
        getattr(importlib.import_module(module_name), function_name or "install")()
    server, url = start_moto(args.port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def until_stdin_closes() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    print(url, flush=True)
    done.wait()
    stop_moto(server, url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
