"""An SMTP sink (aiosmtpd, Debian's python3-aiosmtpd) and an HTTPS webhook receiver on loopback,
for the notify tests. Usage: /usr/bin/python3 notice_sinks.py FOLDER [CERT KEY]

Each message the SMTP server accepts is one JSON line in FOLDER/smtp.jsonl (mail_from, rcpt_tos,
data); each POST to the webhook is one JSON line in FOLDER/webhook.jsonl (path, headers, body).
The first line on stdout is "smtp PORT https PORT" (https 0 without a certificate) once both
listen. Runs until killed or stdin closes."""
import json, os, socket, ssl, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from aiosmtpd.controller import Controller

folder = sys.argv[1]
lock = threading.Lock()

def append(name, record):
    with lock, open(os.path.join(folder, name), "a") as out:
        out.write(json.dumps(record) + "\n")
        out.flush()

class Sink:
    async def handle_DATA(self, server, session, envelope):
        append("smtp.jsonl", {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                              "data": envelope.content.decode("utf-8", "replace")})
        return "250 OK"

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

smtp_port = free_port()
controller = Controller(Sink(), hostname="127.0.0.1", port=smtp_port)
controller.start()

https_port = 0
if len(sys.argv) >= 4:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode("utf-8", "replace")
            append("webhook.jsonl", {"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(204)
            self.end_headers()
        def log_message(self, *args):
            pass
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[2], sys.argv[3])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    https_port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()

print(f"smtp {smtp_port} https {https_port}", flush=True)
sys.stdin.read()
controller.stop()
