"""A fake engine: serves GET /health (200) after a short delay; other arguments are ignored.

Options for the tests: --delay S (before listening), --ignore-sigterm, --spawn-child (a sleeping child in
the same process group; its pid is printed), --fail-port-once MARKER (the first run, while MARKER does not
exist, exits like a server whose port is taken).
"""

import argparse
import os
import signal
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        code = self.status if self.path == "/health" else 404
        self.send_response(code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def main(extra: list[str] | None = None, status: int = 200) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.3)
    parser.add_argument("--ignore-sigterm", action="store_true")
    parser.add_argument("--spawn-child", action="store_true")
    parser.add_argument("--fail-port-once")
    args, _ = parser.parse_known_args(sys.argv[1:] + (extra or []))
    print(f"fake engine: pid={os.getpid()} pgid={os.getpgid(0)}")
    print(f"fake engine: CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}")
    print(f"fake engine: port={args.port}")
    if args.fail_port_once and not os.path.exists(args.fail_port_once):
        open(args.fail_port_once, "w").close()
        print("OSError: [Errno 98] Address already in use")
        sys.exit(1)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, lambda *_: print("fake engine: ignoring SIGTERM"))
    if args.spawn_child:
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"fake engine: child={child.pid}")
    time.sleep(args.delay)
    Health.status = status
    server = ThreadingHTTPServer((args.host, args.port), Health)
    print("fake engine: listening")
    server.serve_forever()


if __name__ == "__main__":
    main()
