"""Webhooks with the official Python server SDK (what Django and Flask backends use): every POST
is checked with `validate_webhook`; the SDK also authenticates the channels the WebSocket client
joins and triggers events. Usage: python compat_webhooks.py SERVER_BINARY"""

import hmac
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pusher
import websocket

APP_ID, KEY, SECRET = "4242", "py-key", "py-secret"
SOON = 5.0


class Receiver:
    """Records the events of every POST that `validate_webhook` accepts."""

    def __init__(self, sdk):
        self.sdk = sdk
        self.events = []
        self.invalid = []
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                data = None
                if self.headers.get("Content-Type") == "application/json":
                    data = receiver.sdk.validate_webhook(
                        key=self.headers.get("X-Pusher-Key", ""),
                        signature=self.headers.get("X-Pusher-Signature", ""),
                        body=body.decode("utf-8"),
                    )
                with receiver.cond:
                    if data is None:
                        receiver.invalid.append((dict(self.headers), body))
                    else:
                        receiver.events.extend(data["events"])
                    receiver.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/webhook" % self.http.server_address[1]

    def wait_for(self, what, **fields):
        deadline = time.monotonic() + SOON
        with self.cond:
            while True:
                for e in self.events:
                    if all(e.get(k) == v for k, v in fields.items()):
                        return e
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s webhook %r within %ss; got %r" % (what, fields, SOON, self.events))
                self.cond.wait(left)


class Client:
    """A Pusher protocol 7 WebSocket client."""

    def __init__(self, port):
        self.ws = websocket.create_connection(
            "ws://127.0.0.1:%d/app/%s?protocol=7&client=py&version=1" % (port, KEY), timeout=SOON
        )
        established = self.recv()
        assert established["event"] == "pusher:connection_established", established
        self.socket_id = json.loads(established["data"])["socket_id"]

    def send(self, msg):
        self.ws.send(json.dumps(msg))

    def recv(self):
        return json.loads(self.ws.recv())

    def expect(self, event, channel):
        deadline = time.monotonic() + SOON
        while time.monotonic() < deadline:
            msg = self.recv()
            if msg.get("event") == event and msg.get("channel") == channel:
                return msg
        raise AssertionError("no %s on %s" % (event, channel))

    def subscribe(self, channel, auth=None):
        data = {"channel": channel}
        if auth:
            data.update(auth)
        self.send({"event": "pusher:subscribe", "data": data})
        return self.expect("pusher_internal:subscription_succeeded", channel)

    def close(self):
        self.ws.close()


def start_server(binary, receiver):
    apps = [{
        "id": APP_ID, "key": KEY, "secret": SECRET, "enable_client_messages": True,
        "webhook_batch_ms": 0, "webhooks": [{"url": receiver.url}],
    }]
    fd, path = tempfile.mkstemp(prefix="corecast-py-apps-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(apps, f)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORECAST_")}
    env.update({"CORECAST_HOST": "127.0.0.1", "CORECAST_PORT": "0", "CORECAST_SHARDS": "2",
                "CORECAST_APPS_FILE": path, "CORECAST_LOG": "warn"})
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 15
    for line in proc.stdout:
        m = re.search(r"listening on [^\s]*:(\d+)", line)
        if m:
            threading.Thread(target=proc.stdout.read, daemon=True).start()
            return proc, int(m.group(1)), path
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("the server did not report its port")


def main():
    if len(sys.argv) != 2:
        print("usage: compat_webhooks.py SERVER_BINARY\n0 passed, 1 failed")
        return 2
    sdk_for_webhooks = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET)
    receiver = Receiver(sdk_for_webhooks)
    proc, port, apps_path = start_server(sys.argv[1], receiver)
    sdk = pusher.Pusher(app_id=APP_ID, key=KEY, secret=SECRET, ssl=False, host="127.0.0.1", port=port)
    passed = failed = 0
    print("# pusher (Python SDK): validate_webhook, authenticate, trigger")
    print("# server listening on port %d" % port)
    watchdog = threading.Timer(90, lambda: (print("# time limit reached"), proc.kill(), os._exit(1)))
    watchdog.start()

    def check(name, fn):
        nonlocal passed, failed
        started = time.monotonic()
        try:
            fn()
            passed += 1
            print("ok - %s (%d ms)" % (name, (time.monotonic() - started) * 1000))
        except Exception as e:  # a failed check is reported, the next one runs
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print("not ok - %s: %s" % (name, detail.replace("\n", "\n#   ")))

    def private_channel_occupied():
        c = Client(port)
        auth = sdk.authenticate(channel="private-py", socket_id=c.socket_id)
        c.subscribe("private-py", auth)
        receiver.wait_for("channel_occupied", name="channel_occupied", channel="private-py")
        sdk.trigger("private-py", "py-event", {"x": 1})
        msg = c.expect("py-event", "private-py")
        assert json.loads(msg["data"]) == {"x": 1}, msg
        c.send({"event": "client-py", "channel": "private-py", "data": {"y": 2}})
        e = receiver.wait_for("client_event", name="client_event", channel="private-py")
        assert e["event"] == "client-py" and e["socket_id"] == c.socket_id, e
        assert json.loads(e["data"]) == {"y": 2}, e
        c.close()
        receiver.wait_for("channel_vacated", name="channel_vacated", channel="private-py")

    def presence_members():
        c = Client(port)
        channel_data = {"user_id": "py-user", "user_info": {"name": "Py"}}
        auth = sdk.authenticate(channel="presence-py", socket_id=c.socket_id, custom_data=channel_data)
        c.subscribe("presence-py", auth)
        receiver.wait_for("member_added", name="member_added", channel="presence-py", user_id="py-user")
        c.send({"event": "pusher:unsubscribe", "data": {"channel": "presence-py"}})
        receiver.wait_for("member_removed", name="member_removed", channel="presence-py", user_id="py-user")
        c.close()

    def cache_miss():
        c = Client(port)
        c.subscribe("cache-py")
        c.expect("pusher:cache_miss", "cache-py")
        receiver.wait_for("cache_miss", name="cache_miss", channel="cache-py")
        c.close()

    def all_valid():
        assert len(receiver.events) >= 7, receiver.events
        assert receiver.invalid == [], receiver.invalid
        wrong = pusher.Pusher(app_id=APP_ID, key=KEY, secret="not-the-secret")
        body = json.dumps({"time_ms": int(time.time() * 1000), "events": []})
        good = hmac.new(SECRET.encode(), body.encode(), "sha256").hexdigest()
        assert sdk_for_webhooks.validate_webhook(key=KEY, signature=good, body=body) is not None
        assert wrong.validate_webhook(key=KEY, signature=good, body=body) is None

    check("private channel authenticated by the SDK: occupied, trigger, client_event, vacated", private_channel_occupied)
    check("presence channel authenticated by the SDK: member_added / member_removed", presence_members)
    check("cache channel without a value: cache_miss webhook", cache_miss)
    check("every POST passed validate_webhook; a wrong secret does not", all_valid)

    watchdog.cancel()
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    os.unlink(apps_path)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
