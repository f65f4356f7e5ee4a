#!/usr/bin/python3
"""Self-test of scripted_server.py: starts it as a subprocess and talks real HTTP to it.

    /usr/bin/python3 tests/llm_server/test_scripted_server.py [-v] [TestClass.test_name]

Standard library only; exits non-zero on failure.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "scripted_server.py")
PYTHON = sys.executable or "/usr/bin/python3"


class ServerProc:
    """One scripted server in a subprocess, on a free port of 127.0.0.1."""

    def __init__(self, script, *args: str):
        self.dir = tempfile.mkdtemp(prefix="t2s-scripted-test-")
        self.script_path = os.path.join(self.dir, "script.json")
        with open(self.script_path, "w") as f:
            json.dump(script, f)
        self.port_file = os.path.join(self.dir, "port")
        self.log_path = os.path.join(self.dir, "requests.jsonl")
        self.err = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(
            [PYTHON, SERVER, "--script", self.script_path, "--port-file", self.port_file, "--log", self.log_path,
             *args], stdout=self.err, stderr=self.err)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.err.seek(0)
                raise RuntimeError(f"scripted server did not start: {self.err.read()}")
            time.sleep(0.01)
        with open(self.port_file) as f:
            self.port = int(f.read())

    def output(self) -> str:
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.err.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        return self.proc.returncode

    # -- HTTP helpers

    def request(self, method, path, body=None, headers=None, timeout=5.0, conn=None):
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
            h = {"Content-Type": "application/json"}
            h.update(headers or {})
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, r, r.read()
        finally:
            if own:
                c.close()

    def chat(self, user="hi", conn=None, timeout=5.0, headers=None, **extra):
        body = {"model": "test-model", "messages": [{"role": "user", "content": user}], **extra}
        status, resp, data = self.request("POST", "/v1/chat/completions", body, headers, timeout, conn)
        return status, resp, data

    def content(self, user="hi", **extra):
        status, _, data = self.chat(user, **extra)
        assert status == 200, (status, data)
        return json.loads(data)["choices"][0]["message"]["content"]

    def get(self, path):
        status, _, data = self.request("GET", path)
        assert status == 200, (status, data)
        return json.loads(data)

    def stats(self):
        return self.get("/__stats")

    def reset(self):
        status, _, _ = self.request("POST", "/__reset", b"")
        assert status == 200


def raw_exchange(port, payload: bytes, timeout=3.0, half_close=False) -> bytes:
    """Sends raw bytes, returns everything the server sends until it closes (or the timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def split_response(raw: bytes):
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode("latin-1"), body


MAIN_SCRIPT = {
    "rules": [
        {"name": "first-two", "match": {"contains": "alpha"}, "times": 2, "respond": {"content": "alpha-1"}},
        {"name": "alpha-rest", "match": {"contains": "alpha"}, "respond": {"content": "alpha-2"}},
        {"name": "by-model", "match": {"model": "special-model"}, "respond": {"content": "special"}},
        {"name": "echo", "match": {"last_user_contains": "echo me"}, "echo": True},
        {"name": "structured", "match": {"has_response_format": True}, "json": {"answer": 42, "ok": True}},
        {"name": "tools", "match": {"has_tools": True},
         "respond": {"tool_calls": [{"id": "call_a", "name": "bash", "arguments": {"cmd": "ls"}}],
                     "usage": {"prompt_tokens": 11, "completion_tokens": 7}}},
        {"name": "teapot", "match": {"contains": "want-418"}, "respond": {"status": 418, "error": "teapot"}},
        {"name": "combined", "match": {"contains": "both", "last_user_contains": "user-part"},
         "respond": {"content": "combined"}},
    ],
    "default": {"content": "default answer"},
}


class ScriptTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ServerProc(MAIN_SCRIPT)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.srv.reset()

    def test_rule_order_and_times(self):
        s = self.srv
        self.assertEqual([s.content("alpha") for _ in range(3)], ["alpha-1", "alpha-1", "alpha-2"])
        self.assertEqual(s.content("beta"), "default answer")
        st = s.stats()
        self.assertEqual(st["by_rule"], {"first-two": 2, "alpha-rest": 1, "default": 1})
        self.assertEqual(st["requests"], 4)
        s.reset()  # resets the times counters too
        self.assertEqual(s.content("alpha"), "alpha-1")

    def test_match_conditions(self):
        s = self.srv
        status, _, data = s.request("POST", "/v1/chat/completions",
                                    {"model": "special-model", "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(json.loads(data)["choices"][0]["message"]["content"], "special")
        self.assertEqual(json.loads(data)["model"], "special-model")
        body = {"model": "m", "messages": [{"role": "user", "content": "user-part"},
                                           {"role": "assistant", "content": "both"},
                                           {"role": "user", "content": "last"}]}
        _, _, data = s.request("POST", "/v1/chat/completions", body)
        self.assertEqual(json.loads(data)["choices"][0]["message"]["content"], "default answer")
        body["messages"][2]["content"] = "user-part again"
        _, _, data = s.request("POST", "/v1/chat/completions", body)
        self.assertEqual(json.loads(data)["choices"][0]["message"]["content"], "combined")

    def test_conversation_state_conditions(self):
        # An agent's turns are told apart by the last message's role and the last tool result.
        s = self.srv
        script = {"rules": [
            {"match": {"last_role": "tool", "last_tool_contains": ["42", "exit"]}, "respond": {"content": "saw 42"}},
            {"match": {"last_role": "tool"}, "respond": {"content": "other tool result"}},
            {"match": {"last_role": "user"}, "respond": {"content": "user turn"}}],
            "default": {"content": "default"}}
        status, _, _ = s.request("POST", "/__script", script)
        self.assertEqual(status, 200)
        try:
            call = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "bash", "arguments": "{}"}}]}

            def answer(messages):
                _, _, data = s.request("POST", "/v1/chat/completions", {"model": "m", "messages": messages})
                return json.loads(data)["choices"][0]["message"]["content"]

            self.assertEqual(answer([{"role": "user", "content": "go"}]), "user turn")
            tool = {"role": "tool", "tool_call_id": "c1", "content": "exit code 0\nstdout:\n42\n"}
            self.assertEqual(answer([{"role": "user", "content": "go"}, call, tool]), "saw 42")
            self.assertEqual(answer([{"role": "user", "content": "go"}, call, dict(tool, content="exit code 0\n41")]),
                             "other tool result")
            # The last tool message counts even when a later message is not a tool's.
            self.assertEqual(answer([{"role": "user", "content": "go"}, call, tool, {"role": "assistant", "content": "x"}]),
                             "default")
            self.assertEqual(answer([{"role": "user", "content": "go"}, call, tool, {"role": "user", "content": "more"}]),
                             "user turn")
            status, _, data = s.request("POST", "/__script", {"rules": [{"match": {"last_role": 3}, "respond": {}}]})
            self.assertEqual(status, 400)
            self.assertIn("last_role must be a string", json.loads(data)["error"]["message"])
        finally:
            s.request("POST", "/__script", MAIN_SCRIPT)

    def test_echo_last_user_message(self):
        body = {"model": "m", "messages": [
            {"role": "system", "content": "sys"}, {"role": "user", "content": "echo me please"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "echo me: "}, {"type": "text", "text": "héllo"}]}]}
        _, _, data = self.srv.request("POST", "/v1/chat/completions", body)
        self.assertEqual(json.loads(data)["choices"][0]["message"]["content"], "echo me: héllo")

    def test_json_response_shape_and_usage(self):
        status, resp, data = self.srv.chat("abcdefgh", response_format={"type": "json_object"})
        self.assertEqual(status, 200)
        self.assertEqual(resp.getheader("Content-Type"), "application/json")
        doc = json.loads(data)
        self.assertEqual(doc["object"], "chat.completion")
        self.assertTrue(doc["id"])
        self.assertIsInstance(doc["created"], int)
        self.assertEqual(doc["model"], "test-model")
        choice = doc["choices"][0]
        self.assertEqual(choice["index"], 0)
        self.assertEqual(choice["finish_reason"], "stop")
        self.assertEqual(choice["message"]["role"], "assistant")
        content = choice["message"]["content"]
        self.assertEqual(json.loads(content), {"answer": 42, "ok": True})
        u = doc["usage"]
        self.assertEqual(u["prompt_tokens"], 2)  # 8 bytes of messages / 4
        self.assertEqual(u["completion_tokens"], (len(content.encode()) + 3) // 4)
        self.assertEqual(u["total_tokens"], u["prompt_tokens"] + u["completion_tokens"])

    def test_tool_calls(self):
        status, _, data = self.srv.chat("run", tools=[{"type": "function", "function": {"name": "bash"}}])
        self.assertEqual(status, 200)
        choice = json.loads(data)["choices"][0]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        self.assertIsNone(choice["message"]["content"])
        call = choice["message"]["tool_calls"][0]
        self.assertEqual(call["id"], "call_a")
        self.assertEqual(call["type"], "function")
        self.assertEqual(call["function"]["name"], "bash")
        self.assertEqual(json.loads(call["function"]["arguments"]), {"cmd": "ls"})
        self.assertEqual(json.loads(data)["usage"], {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})

    def test_scripted_status(self):
        status, _, data = self.srv.chat("want-418")
        self.assertEqual(status, 418)
        self.assertEqual(json.loads(data)["error"]["message"], "teapot")

    def test_models_with_and_without_prefix(self):
        for path in ("/v1/models", "/models"):
            doc = self.srv.get(path)
            self.assertEqual(doc["object"], "list")
            self.assertEqual(doc["data"][0]["id"], "scripted-model")
        status, _, data = self.srv.request("POST", "/chat/completions",
                                           {"messages": [{"role": "user", "content": "alpha"}]})
        self.assertEqual((status, json.loads(data)["choices"][0]["message"]["content"]), (200, "alpha-1"))

    def test_request_log_records_headers_and_body(self):
        self.srv.chat("logged", headers={"Authorization": "Bearer sk-test-123"})
        recs = self.srv.get("/__requests")
        self.assertEqual(len(recs), 1)
        r = recs[0]
        self.assertEqual(r["method"], "POST")
        self.assertEqual(r["path"], "/v1/chat/completions")
        self.assertEqual(r["headers"]["authorization"], "Bearer sk-test-123")
        self.assertEqual(r["body"]["messages"][0]["content"], "logged")
        self.assertEqual((r["rule"], r["fault"], r["status"]), ("default", None, 200))
        self.assertEqual(self.srv.get("/__requests?since=1"), [])
        with open(self.srv.log_path) as f:  # /__requests flushed the JSONL log
            lines = [json.loads(x) for x in f]
        self.assertEqual(lines[-1]["body"]["messages"][0]["content"], "logged")

    def test_keep_alive_reuses_one_connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=5)
        for _ in range(5):
            status, _, _ = self.srv.chat("ka", conn=conn)
            self.assertEqual(status, 200)
        conn.close()
        st = self.srv.stats()
        self.assertEqual(st["requests"], 5)
        self.assertEqual(st["connections_opened"], 1)

    def test_malformed_requests_get_clear_errors(self):
        port = self.srv.port
        status, head, body = split_response(raw_exchange(port, b"GARBAGE\r\n\r\n"))
        self.assertEqual(status, 400)
        self.assertIn("malformed request line", json.loads(body)["error"]["message"])
        status, _, data = self.srv.request("POST", "/v1/chat/completions", b"{not json")
        self.assertEqual(status, 400)
        self.assertIn("not valid JSON", json.loads(data)["error"]["message"])
        status, _, data = self.srv.request("POST", "/v1/chat/completions", b'{"model": "m"}')
        self.assertEqual(status, 400)
        self.assertIn("messages", json.loads(data)["error"]["message"])
        chunked = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   b"5\r\nhello\r\n0\r\n\r\n")
        status, _, body = split_response(raw_exchange(port, chunked))
        self.assertEqual(status, 411)
        self.assertIn("chunked", json.loads(body)["error"]["message"])
        status, _, body = split_response(raw_exchange(port, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                                                            b"Connection: close\r\n\r\n"))
        self.assertEqual(status, 411)
        status, _, _ = split_response(raw_exchange(port, b"GET /nowhere HTTP/1.1\r\nConnection: close\r\n\r\n"))
        self.assertEqual(status, 404)
        # A client that goes away mid-body does not hurt the server.
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1000\r\n\r\n{\"mess")
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"POST /v1/chat/comp")
        # Odd but valid JSON (a lone surrogate escape), a body that is not UTF-8, random garbage.
        self.assertEqual(self.srv.content("echo me \ud800"), "echo me ?")
        status, _, _ = self.srv.request("POST", "/v1/chat/completions", b'{"messages": [{"content": "\xff"}]}')
        self.assertEqual(status, 400)
        rng = random.Random(1)
        for i in range(40):
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
            if i % 2:
                junk = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(junk) + junk
            raw_exchange(port, junk, timeout=1.0, half_close=True)
        self.assertEqual(self.srv.content("still alive"), "default answer")
        self.assertNotIn("internal error", self.srv.output())

    def test_expect_100_continue(self):
        body = json.dumps({"messages": [{"role": "user", "content": "x" * 2000}]}).encode()
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=2) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body))
            t = time.monotonic()
            self.assertEqual(s.recv(100), b"HTTP/1.1 100 Continue\r\n\r\n")
            self.assertLess(time.monotonic() - t, 0.5)
            s.sendall(body)
            self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 200 OK"))

    def test_replace_script_at_run_time(self):
        status, _, _ = self.srv.request("POST", "/__script", {"rules": [{"respond": {"content": "new"}}]})
        self.assertEqual(status, 200)
        try:
            self.assertEqual(self.srv.content("alpha"), "new")
            status, _, data = self.srv.request("POST", "/__script", {"rules": [{"fault": "nonsense"}]})
            self.assertEqual(status, 400)
            self.assertIn("unknown fault kind", json.loads(data)["error"]["message"])
        finally:
            self.srv.request("POST", "/__script", MAIN_SCRIPT)


SCHEMA_RF = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {
    "type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}}}

FAULT_SCRIPT = {
    "rules": [
        {"match": {"contains": "f-status"}, "fault": {"kind": "status", "status": 503}, "respond": {"content": "x"}},
        {"match": {"contains": "f-429-date"}, "fault": {"kind": "rate_limit", "retry_after": 5,
                                                        "retry_after_format": "date"}},
        {"name": "r429", "match": {"contains": "f-429"}, "fault": {"kind": "rate_limit", "times": 2, "retry_after": 3},
         "respond": {"content": "after-429"}},
        {"match": {"contains": "f-reset"}, "fault": "reset", "respond": {"content": "x"}},
        {"match": {"contains": "f-stall"}, "fault": {"kind": "stall", "seconds": 3}, "respond": {"content": "late"}},
        {"match": {"contains": "f-slow"}, "fault": {"kind": "slow_body", "seconds": 1.0, "chunk_bytes": 16},
         "respond": {"content": "slow"}},
        {"match": {"contains": "f-trunc"}, "fault": "truncated", "respond": {"content": "cut " * 20}},
        {"match": {"contains": "f-badjson"}, "fault": "invalid_json", "respond": {"content": "x"}},
        {"match": {"contains": "f-badutf8"}, "fault": "invalid_utf8", "respond": {"content": "text"}},
        {"match": {"contains": "f-schema-given"}, "fault": {"kind": "schema_violation", "content": '{"answer": "no"}'},
         "json": {"answer": 1}},
        {"match": {"contains": "f-schema"}, "fault": "schema_violation", "json": {"answer": 1}},
        {"match": {"contains": "f-prose"}, "fault": "ignore_response_format", "json": {"answer": 1}},
        {"name": "only-fault", "match": {"contains": "f-only"}, "fault": {"kind": "status", "status": 500, "times": 1}},
        {"name": "recovered", "match": {"contains": "f-only"}, "respond": {"content": "recovered"}},
    ]
}


class FaultTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = ServerProc(FAULT_SCRIPT)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.srv.reset()

    def test_status(self):
        status, resp, data = self.srv.chat("f-status")
        self.assertEqual(status, 503)
        self.assertEqual(json.loads(data)["error"]["code"], 503)
        self.assertEqual(self.srv.stats()["by_fault"], {"status": 1})

    def test_rate_limit_then_normal_answer(self):
        for _ in range(2):
            status, resp, data = self.srv.chat("f-429")
            self.assertEqual(status, 429)
            self.assertEqual(resp.getheader("Retry-After"), "3")
            self.assertEqual(json.loads(data)["error"]["type"], "rate_limit_exceeded")
        self.assertEqual(self.srv.content("f-429"), "after-429")
        st = self.srv.stats()
        self.assertEqual((st["by_status"], st["by_rule"]), ({"429": 2, "200": 1}, {"r429": 3}))

    def test_rate_limit_http_date(self):
        status, resp, _ = self.srv.chat("f-429-date")
        self.assertEqual(status, 429)
        self.assertRegex(resp.getheader("Retry-After"), r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} [\d:]{8} GMT$")

    def test_reset(self):
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=3) as s:
            body = json.dumps({"messages": [{"role": "user", "content": "f-reset"}]}).encode()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            with self.assertRaises(ConnectionResetError):
                s.recv(1000)
        with self.assertRaises((ConnectionResetError, http.client.RemoteDisconnected)):
            self.srv.chat("f-reset")
        self.assertIsNone(self.srv.get("/__requests")[0]["status"])

    def test_stall_times_out_the_client(self):
        t = time.monotonic()
        with self.assertRaises(TimeoutError):
            self.srv.chat("f-stall", timeout=0.5)
        self.assertLess(time.monotonic() - t, 2.0)
        self.assertEqual(self.srv.stats()["by_fault"], {"stall": 1})

    def test_slow_body(self):
        with socket.create_connection(("127.0.0.1", self.srv.port), timeout=3) as s:
            body = json.dumps({"messages": [{"role": "user", "content": "f-slow"}]}).encode()
            t = time.monotonic()
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            data = s.recv(65536)
            first = time.monotonic() - t
            self.assertIn(b"\r\n\r\n", data)  # the head comes at once ...
            self.assertLess(first, 0.5)
            length = int(data.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            got = data.partition(b"\r\n\r\n")[2]
            self.assertLess(len(got), length)
            while len(got) < length:  # ... the body over about a second
                got += s.recv(65536)
            self.assertGreater(time.monotonic() - t, 0.8)
            self.assertEqual(json.loads(got)["choices"][0]["message"]["content"], "slow")

    def test_truncated(self):
        with self.assertRaises(http.client.IncompleteRead):
            self.srv.chat("f-trunc")

    def test_invalid_json(self):
        status, _, data = self.srv.chat("f-badjson")
        self.assertEqual(status, 200)
        with self.assertRaises(ValueError):
            json.loads(data)

    def test_invalid_utf8(self):
        status, _, data = self.srv.chat("f-badutf8")
        self.assertEqual(status, 200)
        with self.assertRaises(UnicodeDecodeError):
            data.decode("utf-8")
        doc = json.loads(data.decode("latin-1"))  # the JSON structure itself is intact
        self.assertTrue(doc["choices"][0]["message"]["content"].startswith("text"))

    def test_schema_violation(self):
        content = self.srv.content("f-schema", response_format=SCHEMA_RF)
        self.assertNotIsInstance(json.loads(content), dict)  # valid JSON, wrong root type
        self.assertEqual(json.loads(self.srv.content("f-schema-given", response_format=SCHEMA_RF)), {"answer": "no"})

    def test_ignore_response_format(self):
        content = self.srv.content("f-prose", response_format=SCHEMA_RF)
        with self.assertRaises(ValueError):
            json.loads(content)

    def test_fault_only_rule_falls_through(self):
        status, _, _ = self.srv.chat("f-only")
        self.assertEqual(status, 500)
        self.assertEqual(self.srv.content("f-only"), "recovered")
        self.assertEqual(self.srv.stats()["by_rule"], {"only-fault": 1, "recovered": 1})

    def test_unmatched_without_default_is_404(self):
        status, _, data = self.srv.chat("nothing matches")
        self.assertEqual(status, 404)
        self.assertIn("no script rule matched", json.loads(data)["error"]["message"])


class RandomFaultTests(unittest.TestCase):
    SCRIPT = {"random_faults": {"rate": 0.5, "seed": 7, "kinds": ["status", {"kind": "rate_limit", "retry_after": 1}]},
              "default": {"content": "ok"}}

    def sequence(self, *args):
        srv = ServerProc(self.SCRIPT, *args)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
            seq = [srv.chat(str(i), conn=conn)[0] for i in range(40)]
            conn.close()
            srv.reset()  # the random sequence starts over
            seq2 = [srv.chat(str(i))[0] for i in range(40)]
            self.assertEqual(seq, seq2)
            return seq
        finally:
            srv.stop()

    def test_deterministic_for_a_seed(self):
        a, b, c = self.sequence(), self.sequence(), self.sequence("--seed", "8")
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)
        self.assertEqual(set(a), {200, 500, 429})
        self.assertTrue(8 <= sum(s != 200 for s in a) <= 32, a)


def parallel_chats(port, n, user="x"):
    """n requests at once, each on its own connection; returns (wall seconds, statuses)."""
    statuses = [None] * n
    start = []
    barrier = threading.Barrier(n, action=lambda: start.append(time.monotonic()))

    def one(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        c.connect()
        barrier.wait()
        body = json.dumps({"messages": [{"role": "user", "content": user}]})
        c.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        statuses[i] = r.status
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.monotonic() - start[0], statuses


class LatencyAndConcurrencyTests(unittest.TestCase):
    def test_cap_queues_excess_requests(self):
        srv = ServerProc({"default": {"content": "ok"}}, "--latency-ms", "100", "--max-concurrent", "4")
        try:
            wall, statuses = parallel_chats(srv.port, 8)
            self.assertEqual(statuses, [200] * 8)
            self.assertGreaterEqual(wall, 0.19)  # two waves of 100 ms, not one
            self.assertLess(wall, 0.6)
            st = srv.stats()
            self.assertEqual(st["max_in_flight_observed"], 4)
            self.assertEqual(st["max_queued_observed"], 4)
        finally:
            srv.stop()

    def test_queued_request_of_a_departed_client_is_skipped(self):
        srv = ServerProc({"default": {"content": "ok"}}, "--latency-ms", "300", "--max-concurrent", "1")
        try:
            body = b'{"messages": [{"role": "user", "content": "x"}]}'
            req = b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body
            t = time.monotonic()
            a = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            a.sendall(req)
            with socket.create_connection(("127.0.0.1", srv.port)) as b:  # queued behind a, then gone
                b.sendall(req)
                deadline = time.monotonic() + 2
                while srv.stats()["queued"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.005)
            status, _, _ = srv.chat("c")  # queued behind a and b
            self.assertEqual(status, 200)
            self.assertLess(time.monotonic() - t, 0.85)  # a and c took the slot, b did not
            self.assertTrue(a.recv(100).startswith(b"HTTP/1.1 200"))
            a.close()
            st = srv.stats()
            self.assertEqual((st["abandoned"], st["by_status"]), (1, {"200": 2}))
        finally:
            srv.stop()

    def test_latency_without_cap_overlaps(self):
        srv = ServerProc({"latency_ms": 100, "default": {"content": "ok"}})
        try:
            wall, statuses = parallel_chats(srv.port, 8)
            self.assertEqual(statuses, [200] * 8)
            self.assertGreaterEqual(wall, 0.095)
            self.assertLess(wall, 0.19)
            self.assertEqual(srv.stats()["max_in_flight_observed"], 8)
        finally:
            srv.stop()


async def _load(port, conns, per_conn):
    body = json.dumps({"model": "m", "messages": [{"role": "system", "content": "You are terse."},
                                                  {"role": "user", "content": "say something " * 8}]}).encode()
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
           b"Authorization: Bearer sk-x\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    done = 0

    async def worker():
        nonlocal done
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.transport.max_size = 65536  # as in the server: 256 KiB reads cost an mmap and page faults each
        for _ in range(per_conn):
            w.write(req)
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), head
            i = head.index(b"Content-Length: ") + 16
            await r.readexactly(int(head[i:head.index(b"\r\n", i)]))
            done += 1
        w.close()

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return done, time.perf_counter() - t


class ThroughputTests(unittest.TestCase):
    def test_throughput_over_keep_alive_connections(self):
        srv = ServerProc({"default": {"content": "a short answer"}})
        try:
            asyncio.run(_load(srv.port, 32, 10))  # warm up
            n, secs = asyncio.run(_load(srv.port, 32, 150))
            rate = n / secs
            print(f"\n  throughput: {n} requests over 32 keep-alive connections in {secs:.2f} s = {rate:.0f} req/s "
                  "(client in this process)", file=sys.stderr)
            st = srv.stats()
            self.assertEqual(st["connections_opened"], 64)
            self.assertGreaterEqual(rate, 800, "far below the ~2000 req/s the benchmarks need")
        finally:
            srv.stop()


class LifecycleTests(unittest.TestCase):
    def test_sigterm_exits_cleanly_even_with_a_stalled_client(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            srv = ServerProc({"rules": [{"fault": {"kind": "stall", "seconds": 60}}]})
            s = socket.create_connection(("127.0.0.1", srv.port))
            body = b'{"messages": []}'
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            deadline = time.monotonic() + 3
            while srv.stats()["requests"] < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            t = time.monotonic()
            srv.proc.send_signal(sig)
            rc = srv.proc.wait(5)
            self.assertLess(time.monotonic() - t, 2.5)
            self.assertEqual(rc, 0)
            with open(srv.log_path) as f:  # the buffered log was flushed on the way out
                self.assertEqual(len(f.readlines()), 1)
            s.close()
            srv.stop()

    def test_bad_script_is_refused_with_a_message(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.json")
            for script, needle in (([{"fault": "nonsense"}], "unknown fault kind"),
                                   ([{"match": {"contians": "x"}, "respond": {}}], "unknown key(s) ['contians']"),
                                   ("[", "cannot load script")):
                with open(path, "w") as f:
                    f.write(script if isinstance(script, str) else json.dumps(script))
                p = subprocess.run([PYTHON, SERVER, "--script", path, "--validate"], capture_output=True, text=True)
                self.assertEqual(p.returncode, 2)
                self.assertIn(needle, p.stderr)


if __name__ == "__main__":
    unittest.main()
