#!/usr/bin/env python3
"""Serve localstripe (https://pypi.org/project/localstripe/) on 127.0.0.1 for tests and the demo.

localstripe is an independent, stateful implementation of Stripe's API. Its own command line
binds every interface on a fixed port and pickles its whole store to /tmp on every write
(quadratic in the number of objects, and shared by every instance on the machine). This
launcher serves the same application object on a loopback socket it binds itself (port 0 by
default, or --port), keeps the store in memory only, and prints one JSON line with the URL
once it listens. Nothing of localstripe's API behaviour is changed.

Usage: target/localstripe/bin/python scripts/serve-localstripe.py [--port N]
"""

import argparse
import json
import socket
import sys

import localstripe.resources as resources
from aiohttp import web
from localstripe.server import app


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    # In memory only: no pickle of the whole store on every write.
    resources.Store.dump_to_disk = lambda self: None

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    port = sock.getsockname()[1]

    async def announce(_app):
        print(json.dumps({"url": f"http://127.0.0.1:{port}"}), flush=True)

    app.on_startup.append(announce)
    web.run_app(app, sock=sock, access_log=None, print=None, handle_signals=True)


if __name__ == "__main__":
    sys.exit(main())
