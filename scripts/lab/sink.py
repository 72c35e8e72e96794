#!/usr/bin/python3
"""The lab's SMTP sink: accepts every message and records it, one JSON line each.

Run by scripts/lab.sh with Debian's /usr/bin/python3 (python3-aiosmtpd is importable
only there). Each delivered message appends to OUT, flushed and fsync'd before the
sink answers 250 to DATA, so a line in the file means Postfix got a success reply:

  {"time": "2026-12-05T14:02:56.123456Z", "peer": "127.10.1.11",
   "helo": "lab-a1.adobe-dc.lab.invalid", "messageId": "<...>",
   "mailFrom": "...", "rcptTos": ["..."]}

"peer" is the source address of the TCP connection (the MTA's smtp_bind_address),
"helo" what the client said in HELO/EHLO. The message body is not kept.
"""

import argparse
import asyncio
import datetime
import email.parser
import email.policy
import json
import os
import signal
import sys

from aiosmtpd.smtp import SMTP


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Recorder:
    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.parser = email.parser.BytesHeaderParser(policy=email.policy.compat32)

    def record(self, session, envelope):
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        headers = self.parser.parsebytes(content, headersonly=True)
        message_id = headers.get("Message-ID")
        if message_id is not None:
            message_id = " ".join(str(message_id).split())
        peer = session.peer[0] if isinstance(session.peer, tuple) else str(session.peer)
        line = json.dumps({
            "time": now_rfc3339(),
            "peer": peer,
            "helo": session.host_name,
            "messageId": message_id,
            "mailFrom": envelope.mail_from,
            "rcptTos": list(envelope.rcpt_tos),
        }, separators=(", ", ": ")) + "\n"
        data = line.encode("utf-8")
        # One write(2) per line on an O_APPEND descriptor: lines never interleave.
        written = 0
        while written < len(data):
            written += os.write(self.fd, data[written:])
        os.fsync(self.fd)

    async def handle_DATA(self, server, session, envelope):
        try:
            self.record(session, envelope)
        except Exception as error:  # never lose a message silently: make the MTA retry
            print(f"sink: cannot record a delivery: {error}", file=sys.stderr, flush=True)
            return "451 4.3.0 sink cannot record the message, try again later"
        return "250 2.0.0 OK: recorded by the sendpath lab sink"


async def serve(host, port, out, hostname):
    recorder = Recorder(out)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(recorder, hostname=hostname, enable_SMTPUTF8=True,
                     data_size_limit=64 * 1024 * 1024, timeout=120),
        host=host, port=port, reuse_address=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"sink: listening on {host}:{port}, recording to {out}", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()
    print("sink: stopped", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT")
    parser.add_argument("--out", required=True, help="deliveries.jsonl to append to")
    parser.add_argument("--hostname", default="sink.lab.invalid",
                        help="name in the greeting; must differ from every MTA's myhostname")
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    asyncio.run(serve(host, int(port), args.out, args.hostname))


if __name__ == "__main__":
    main()
