"""A local SMTP server for the alert tests (crates/cli/tests/api/alerts.rs): aiosmtpd on a free
loopback port that requires AUTH with the login and password given as arguments. It prints
{"port": N} once listening, then one JSON line per accepted message: envelope sender,
recipients, the login used and the message as received."""

import asyncio
import json
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER, PASSWORD = sys.argv[1].encode(), sys.argv[2].encode()


class Sink:
    async def handle_DATA(self, server, session, envelope):
        auth = session.auth_data
        login = auth.login if isinstance(auth, LoginPassword) else None
        print(
            json.dumps(
                {
                    "from": envelope.mail_from,
                    "to": envelope.rcpt_tos,
                    "login": login.decode() if login else None,
                    "data": envelope.content.decode("utf-8", "replace"),
                }
            ),
            flush=True,
        )
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (USER, PASSWORD)
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Sink(), authenticator=authenticate, auth_required=True, auth_require_tls=False),
        "127.0.0.1",
        0,
    )
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()


asyncio.run(main())
