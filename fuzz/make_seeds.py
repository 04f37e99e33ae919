#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/ (small, hand-made inputs; see each target's
doc comment for its input format). Run again after changing it; the files are committed."""

import hashlib
import hmac
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

KEY = "278d425bdf160c739803"
SECRET = "7ad3773142a6692b25b8"


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# --- ws_frame_reader -------------------------------------------------------------------------

MASK = bytes([0x37, 0xFA, 0x21, 0x3D])


def frame(op, payload, fin=True, mask=MASK, b0_extra=0, masked=True):
    b0 = (0x80 if fin else 0) | op | b0_extra
    n = len(payload)
    bit = 0x80 if masked else 0
    if n <= 125:
        head = bytes([b0, bit | n])
    elif n <= 0xFFFF:
        head = bytes([b0, bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def raw(stream, limit=32768, cuts=(), stop=0):
    """Raw-mode input: mode 0, limit, cut points, stop-after, then the stream."""
    out = bytes([0]) + struct.pack("<H", limit) + bytes([len(cuts)])
    for c in cuts:
        out += struct.pack("<H", c)
    return out + bytes([stop]) + stream


def ws_seeds():
    t = "ws_frame_reader"
    hello = frame(0x1, b"Hello")  # RFC 6455 5.7: 81 85 37 fa 21 3d 7f 9f 4d 51 58
    assert hello.hex() == "818537fa213d7f9f4d5158"
    write(t, "text-hello", raw(hello))
    write(t, "text-hello-split", raw(hello, cuts=(1, 3, 7)))
    sub = b'{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}'
    write(t, "pusher-subscribe", raw(frame(0x1, sub) + frame(0x1, b'{"event":"pusher:ping","data":{}}')))
    frag = frame(0x1, b"Hel", fin=False) + frame(0x9, b"ping") + frame(0x0, b"lo")
    write(t, "fragmented-with-ping", raw(frag, cuts=(2, 9, 13)))
    write(t, "stop-after-one", raw(hello + frame(0xA, b"pong") + hello, stop=1))
    write(t, "binary-256", raw(frame(0x2, bytes(range(256))), cuts=(3,)))
    write(t, "length-64bit-too-big", raw(bytes([0x82, 0xFF]) + struct.pack(">Q", 70000) + MASK, limit=1024))
    write(t, "length-top-bit", raw(bytes([0x82, 0xFF]) + struct.pack(">Q", 1 << 63) + MASK))
    write(t, "utf8-split-across-fragments", raw(frame(0x1, "é".encode()[:1], fin=False) + frame(0x0, "é".encode()[1:] + "€".encode())))
    write(t, "utf8-invalid", raw(frame(0x1, b"\xc3\x28")))
    write(t, "close-1000-bye", raw(frame(0x8, struct.pack(">H", 1000) + b"bye")))
    write(t, "close-empty", raw(frame(0x8, b"")))
    write(t, "close-1005-invalid", raw(frame(0x8, struct.pack(">H", 1005))))
    write(t, "close-one-byte", raw(frame(0x8, b"\x03")))
    write(t, "unmasked", raw(frame(0x1, b"Hello", masked=False)))
    write(t, "reserved-bits", raw(frame(0x1, b"Hello", b0_extra=0x40)))
    write(t, "reserved-opcode", raw(frame(0x3, b"")))
    write(t, "fragmented-ping", raw(frame(0x9, b"", fin=False)))
    write(t, "continuation-alone", raw(frame(0x0, b"x")))
    write(t, "text-inside-fragmented", raw(frame(0x1, b"a", fin=False) + frame(0x1, b"b")))
    write(t, "too-big-across-fragments", raw(frame(0x2, b"a" * 10, fin=False) + frame(0x0, b"b" * 10), limit=16))
    # Round-trip mode: the bytes drive the traffic generator.
    write(t, "roundtrip-a", bytes([1]) + bytes((i * 37 + 11) % 256 for i in range(96)))
    write(t, "roundtrip-b", bytes([1, 0xFF, 0x7F]) + bytes((i * 101 + 7) % 256 for i in range(400)))


# --- http_head -------------------------------------------------------------------------------

def http_seeds():
    t = "http_head"
    ws_key = "dGhlIHNhbXBsZSBub25jZQ=="
    write(t, "pusher-js-upgrade",
          f"GET /app/{KEY}?protocol=7&client=js&version=8.4.0&flash=false HTTP/1.1\r\n"
          "Host: localhost:6001\r\nConnection: Upgrade\r\nPragma: no-cache\r\n"
          "Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0\r\nUpgrade: websocket\r\n"
          "Origin: http://localhost:8000\r\nSec-WebSocket-Version: 13\r\n"
          "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\n"
          f"Sec-WebSocket-Key: {ws_key}\r\n"
          "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")
    write(t, "raw-upgrade",
          f"GET /v3/room-1?api_key={KEY}&notify_self=1&presence=1&user=alice HTTP/1.1\r\n"
          "Host: x\r\nConnection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
          f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {ws_key}\r\njwt: a.b.c\r\n\r\n")
    body = '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'
    write(t, "rest-post-events",
          "POST /apps/3/events?auth_key=278d425bdf160c739803&auth_timestamp=1353088179"
          "&auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
          "&auth_signature=da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c HTTP/1.1\r\n"
          f"Host: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}")
    write(t, "rest-get-channels",
          "GET /apps/3/channels?filter_by_prefix=presence-&info=user_count&auth_key=k&&x HTTP/1.1\r\n"
          "Host: x\r\n\r\n")
    write(t, "http10-keep-alive", "GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    write(t, "connection-close", "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    write(t, "pipelined",
          "POST /api/publish HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"
          "GET /apps/3/channels HTTP/1.1\r\nHost: x\r\n\r\n")
    write(t, "expect-continue",
          "POST /apps/3/events HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
    write(t, "bare-lf", "GET /?a=1 HTTP/1.1\nHost: x\nConnection: close\n\n")
    write(t, "chunked", "POST /apps/3/events HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    # Ambiguous framing (RFC 9112 6.3); each must be refused, never given a length.
    for name, headers in [
        ("cl-plus", "Content-Length: +5"),
        ("cl-two-different", "Content-Length: 5\r\nContent-Length: 6"),
        ("cl-list", "Content-Length: 5, 5"),
        ("cl-empty", "Content-Length: "),
        ("cl-and-te", "Content-Length: 5\r\nTransfer-Encoding: chunked"),
        ("te-not-chunked", "Transfer-Encoding: gzip, chunked"),
    ]:
        write(t, "ambiguous-" + name, f"POST /api/publish HTTP/1.1\r\nHost: x\r\n{headers}\r\n\r\nhello")
    many = "".join(f"X-H{i}: v\r\n" for i in range(65))
    write(t, "too-many-headers", f"GET / HTTP/1.1\r\n{many}\r\n")


# --- pusher_inbound --------------------------------------------------------------------------

def pusher_seeds():
    t = "pusher_inbound"
    msgs = {
        "subscribe-public": '{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}',
        "subscribe-private": '{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4","channel":"private-foobar"}}',
        "subscribe-presence": '{"event":"pusher:subscribe","data":{"auth":"278d425bdf160c739803:31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80","channel_data":"{\\"user_id\\":10,\\"user_info\\":{\\"name\\":\\"Mr. Channels\\"}}","channel":"presence-foobar"}}',
        "subscribe-string-data": '{"event":"pusher:subscribe","data":"{\\"channel\\":\\"presence-a\\",\\"auth\\":\\"k:s\\",\\"channel_data\\":\\"{\\\\\\"user_id\\\\\\":\\\\\\"1\\\\\\"}\\"}"}',
        "subscribe-encrypted-cache": '{"event":"pusher:subscribe","data":{"auth":"k:s","channel":"private-encrypted-cache-room"}}',
        "subscribe-server-to-user": '{"event":"pusher:subscribe","data":{"auth":"","channel":"#server-to-user-12345"}}',
        "subscribe-bad-name": '{"event":"pusher:subscribe","data":{"channel":"a b#c"}}',
        "unsubscribe": '{"event":"pusher:unsubscribe","data":{"channel":"private-foo"}}',
        "signin": '{"event":"pusher:signin","data":{"auth":"278d425bdf160c739803:6b715855dd8a90585bf11dc63222874e39c2ba5da579b6678b0299368e8cf067","user_data":"{\\"id\\":\\"12345\\",\\"user_info\\":{\\"name\\":\\"Alice\\"},\\"watchlist\\":[\\"67890\\",\\"13579\\"]}"}}',
        "ping": '{"event":"pusher:ping","data":{}}',
        "pong": '{"event":"pusher:pong","data":{}}',
        "ping-no-data": '{"event":"pusher:ping","datA":{}}',
        "internal-ignored": '{"event":"pusher_internal:subscription_succeeded","data":"{}"}',
        "client-event-object": '{"event":"client-typing","channel":"private-foo","data":{"user":"Alice"}}',
        "client-event-string": '{"event":"client-typing","channel":"presence-room","data":"{\\"user\\":\\"Alice\\"}"}',
        "client-event-escapes": '{"event":"client-\\u00e9v","channel":"private-x","data":"\\ud83d\\ude00 \\"q\\" \\\\ \\n"}',
        "client-event-lone-surrogate": '{"event":"client-a","channel":"private-x","data":"\\ud800"}',
        "client-event-huge-number": '{"event":"client-a","channel":"private-x","data":[1e400,-0,1.5e-7]}',
        "broadcastt-subscribe": '{"event":"broadcastt:subscribe","data":{"channel":"private-x","auth":"k:s"}}',
        "unknown-event": '{"event":"my-event","channel":null}',
        "missing-event": '{"data":{}}',
        "event-not-string": '{"event":5}',
        "duplicate-event": '{"event":"pusher:ping","event":"pusher:pong"}',
        "array": '[1,2]',
        "array-ping": '["pusher:ping"]',
        "array-client-event": '["client-a","private-x",{"x":1}]',
        "subscribe-array-data": '{"event":"pusher:subscribe","data":["private-x","k:s"]}',
        "subscribe-string-array-data": '{"event":"pusher:subscribe","data":"[\\"my-channel\\"]"}',
        "signin-array-data": '{"event":"pusher:signin","data":["k:s","{\\"id\\":\\"1\\"}"]}',
        "deep": '{"event":"client-a","data":' + '[' * 200 + ']' * 200 + '}',
        "not-json": 'not json',
    }
    for name, m in msgs.items():
        write(t, name, m)
    write(t, "presence-numeric-id", '{"event":"pusher:subscribe","data":{"auth":"k:s","channel":"presence-cache-x","channel_data":"{\\"user_id\\":1.0e3,\\"user_info\\":null}"}}')


# --- rest_signature --------------------------------------------------------------------------

TS = "1353088179"


def sign(method, path, query):
    return hmac.new(SECRET.encode(), f"{method}\n{path}\n{query}".encode(), hashlib.sha256).hexdigest()


def rest(method, path, query, body="", prog=b"", now=TS, key=KEY, secret=SECRET):
    head = "\n".join([method, path, query, key, secret, now]).encode()
    return head + b"\n" + prog + b"\n" + body.encode()


def rest_seeds():
    t = "rest_signature"
    base = f"auth_key={KEY}&auth_timestamp={TS}&auth_version=1.0"
    cases = {
        "v1-events": ("POST", "/apps/3/events", {},
                      '{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}'),
        "v2-batch": ("POST", "/apps/3/batch_events", {},
                     '{"batch":[{"name":"foo","channel":"project-3","data":"{\\"some\\":\\"data\\"}"},{"name":"bar","channel":"presence-room","data":"hello","info":"user_count"}]}'),
        "v3-channels": ("GET", "/apps/3/channels", {"filter_by_prefix": "presence-", "info": "user_count"}, ""),
        "v4-channel": ("GET", "/apps/3/channels/presence-foobar", {"info": "user_count,subscription_count"}, ""),
        "v5-users": ("GET", "/apps/3/channels/presence-foobar/users", {}, ""),
        "v6-terminate": ("POST", "/apps/3/users/12345/terminate_connections", {}, "{}"),
    }
    expected = {
        "v1-events": "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c",
        "v2-batch": "98b4f7389c36c31d67681c1947a4d97c129b0c04189df8ce7b7eb1af15e9360f",
        "v3-channels": "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291",
        "v4-channel": "377ee9260ea002a70c0d40cd887d55cb36db9f7f821297f5efacbcce66be356d",
        "v5-users": "5567dd30e7f8575e66be615d2aac3f608a0c311c31ddab8513a278b022e9597e",
        "v6-terminate": "01fa634edeb0cae84115307cad5c23f65a46cd286461b1c89637a3b5871a8f0e",
    }
    for name, (method, path, extra, body) in cases.items():
        params = dict(p.split("=", 1) for p in base.split("&"))
        params.update(extra)
        if body:
            params["body_md5"] = hashlib.md5(body.encode()).hexdigest()
        query = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        sig = sign(method, path, query)
        assert sig == expected[name], name  # the spec's test vectors
        write(t, name, rest(method, path, f"{query}&auth_signature={sig}", body))
    v4 = expected["v4-channel"]
    # Same signature, other spellings: %2C, duplicate keys, upper-case keys, another order.
    write(t, "v4-percent-comma", rest("GET", "/apps/3/channels/presence-foobar",
          f"info=user_count%2Csubscription_count&{base}&auth_signature={v4}"))
    write(t, "v4-duplicate-keys", rest("GET", "/apps/3/channels/presence-foobar",
          f"auth_signature={v4}&info=user_count&{base}&INFO=subscription_count"))
    write(t, "v4-upper-hex", rest("get", "/apps/3/channels/presence-foobar",
          f"{base}&Info=user_count,subscription_count&auth_signature={v4.upper()}"))
    write(t, "v5-expired", rest("GET", "/apps/3/channels/presence-foobar/users",
          f"{base}&auth_signature={expected['v5-users']}", now="1353088780"))
    write(t, "v5-mutate-path", rest("GET", "/apps/3/channels/presence-foobar/users",
          f"{base}&auth_signature={expected['v5-users']}", prog=bytes([1, 3, 0, ord("4")])))
    write(t, "v6-mutate-body", rest("POST", "/apps/3/users/12345/terminate_connections",
          f"{base}&body_md5=99914b932bd37a50b983c5e7c90ae93b&auth_signature={expected['v6-terminate']}",
          "{}", prog=bytes([3, 0, 0, ord("[")])))
    write(t, "bad-percent", rest("GET", "/apps/3/channels", f"{base}&x=%zz&auth_signature=00"))
    write(t, "sign-odd-params", rest("GET", "/apps/3/channels", "a=%26%3D&b=+ &=&c&%C3%A9=\u00e9", prog=bytes([2, 9, 0, ord("&")])))


# --- raw_jwt ---------------------------------------------------------------------------------

def b64(data):
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(header, payload, secret=SECRET):
    h, p = b64(header.encode()), b64(payload.encode())
    s = b64(hmac.new(secret.encode(), f"{h}.{p}".encode(), hashlib.sha256).digest())
    return f"{h}.{p}.{s}"


def jwt_input(token, channel, now, prog=b"", payload="", secret=SECRET):
    return "\n".join([token, secret, channel, str(now)]).encode() + b"\n" + prog + b"\n" + payload.encode()


def jwt_seeds():
    t = "raw_jwt"
    hs = '{"alg":"HS256","typ":"JWT"}'
    vector = '{"sub":"room-1","iat":1700000000,"exp":1700086400,"user":"alice"}'
    token = jwt(hs, vector)
    assert token == ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJyb29tLTEiLCJpYXQiOjE3MDAwMDAwMDAs"
                     "ImV4cCI6MTcwMDA4NjQwMCwidXNlciI6ImFsaWNlIn0.nVVtTHyM1wiXuHP_fNgJrxC29cSrq33Z95deK0oMm7o")
    write(t, "spec-vector", jwt_input(token, "room-1", 1700000010, payload=vector))
    write(t, "spec-vector-padded", jwt_input(token + "=", "room-1", 1700000010))
    write(t, "spec-vector-expired", jwt_input(token, "room-1", 1700086430))
    write(t, "spec-vector-wrong-channel", jwt_input(token, "room-2", 1700000010))
    write(t, "mutate-token", jwt_input(token, "room-1", 1700000010, prog=bytes([0, 40, 0, ord("A")]), payload=vector))
    write(t, "mutate-clock", jwt_input(token, "room-1", 1700086390, prog=bytes([2, 100, 0]), payload=vector))
    write(t, "numeric-sub-object-user", jwt_input("", "1998", 50,
          payload='{"sub":1998,"exp":100,"user":{"id":7,"name":"Al"}}'))
    write(t, "float-exp-future-iat", jwt_input("", "r", 1000, payload='{"sub":"r","exp":1e30,"iat":1031.9}'))
    none = b64(b'{"alg":"none"}') + "." + b64(vector.encode()) + "."
    write(t, "alg-none", jwt_input(none, "room-1", 1700000010))
    write(t, "alg-hs512", jwt_input(jwt('{"alg":"HS512"}', vector), "room-1", 1700000010))
    # Claims as a JSON array, which serde would read into the claim fields in order.
    write(t, "array-claims", jwt_input("", "room-1", 1700000010, payload='["room-1",9999999999,null,"mallory"]'))
    write(t, "array-header", jwt_input(jwt('["HS256"]', vector), "room-1", 1700000010))
    write(t, "not-a-token", jwt_input("a.b", "room-1", 0, payload='{"sub":"room-1"}'))


def main():
    if os.path.isdir(CORPUS):
        shutil.rmtree(CORPUS)
    ws_seeds()
    http_seeds()
    pusher_seeds()
    rest_seeds()
    jwt_seeds()


if __name__ == "__main__":
    main()
