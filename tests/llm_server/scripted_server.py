#!/usr/bin/python3
"""Scripted OpenAI-compatible chat-completions server for tests and benchmarks.

No LLM is reachable on the project's machines, so the HTTP client is tested against this server:
a JSON script says what to answer to which request, and which faults (429, resets, stalls, broken
bodies, ...) to inject. Python standard library only (asyncio streams, no thread per request).
See README.md beside this file for the script format, every fault and the control endpoints.

    scripted_server.py --script FILE.json [--port 0] [--port-file PATH] [--log FILE.jsonl]
                       [--latency-ms N] [--max-concurrent N] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import re
import math
import os
import random
import resource
import signal
import socket
import struct
import sys
import time
from email.utils import formatdate
from http import HTTPStatus

REASONS = {s.value: s.phrase for s in HTTPStatus}
MAX_HEAD_BYTES = 256 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024

MATCH_KEYS = {
    "contains", "not_contains", "model", "last_user_contains", "message_contains", "has_tools",
    "has_response_format", "last_tool_contains", "last_role",
}
RESPOND_KEYS = {
    "content", "tool_calls", "finish_reason", "usage", "status", "headers", "model", "echo", "json", "content_from_tool",
    "error", "body",
}
RULE_KEYS = {"name", "match", "respond", "echo", "json", "times", "fault"}
TOP_KEYS = {"rules", "default", "random_faults", "latency_ms", "max_concurrent", "models", "api_key"}
FAULT_KEYS = {
    "status": {"status", "message", "type", "code", "headers", "body"},
    "rate_limit": {"retry_after", "retry_after_format", "message", "headers"},
    "reset": set(),
    "stall": {"seconds", "then"},
    "slow_body": {"chunk_bytes", "interval_ms", "seconds"},
    "truncated": {"fraction", "bytes"},
    "invalid_json": {"body"},
    "invalid_utf8": set(),
    "schema_violation": {"content", "json"},
    "ignore_response_format": {"content"},
}
DEFAULT_RANDOM_KINDS = ["status", "rate_limit", "reset"]
PROSE = "Sure! Here is the answer you asked for, written as plain prose instead of the requested JSON."
BROKEN_JSON = b'{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assist'
# Raw bytes that are not UTF-8: a lone continuation byte, 0xFF, a bad 2-byte sequence, an encoded surrogate.
BAD_UTF8 = b"\x80\xff\xfe\xc3\x28\xed\xa0\x80"
UTF8_MARK = "\u0000T2S-INVALID-UTF8\u0000"


class ScriptError(Exception):
    pass


class HttpError(Exception):
    """A request that gets an error response (and maybe a closed connection) instead of an answer."""

    def __init__(self, status: int, message: str, close: bool = False, err_type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.close, self.err_type = status, message, close, err_type


def jbytes(obj) -> bytes:
    # ensure_ascii=False keeps UTF-8 content as UTF-8; 'replace' turns lone surrogates into '?'.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "replace")


def error_body(status: int, message: str, err_type: str | None = None, code=None) -> bytes:
    if err_type is None:
        err_type = {429: "rate_limit_exceeded", 401: "authentication_error", 404: "not_found_error"}.get(
            status, "server_error" if status >= 500 else "invalid_request_error")
    return jbytes({"error": {"message": message, "type": err_type, "param": None,
                             "code": code if code is not None else status}})


def msg_text(m) -> str:
    if not isinstance(m, dict):
        return ""
    c = m.get("content")
    if isinstance(c, str):
        return c
    if isinstance(c, list):  # content parts: [{"type": "text", "text": ...}, ...]
        return "".join(p["text"] for p in c if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def last_user_text(req: dict) -> str:
    for m in reversed(req.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "user":
            return msg_text(m)
    return ""


def last_tool_text(req: dict) -> str:
    for m in reversed(req.get("messages") or []):
        if isinstance(m, dict) and m.get("role") == "tool":
            return msg_text(m)
    return ""


def last_role(req: dict):
    msgs = req.get("messages") or []
    return msgs[-1].get("role") if msgs and isinstance(msgs[-1], dict) else None


def has_response_format(req: dict) -> bool:
    rf = req.get("response_format")
    return isinstance(rf, dict) and rf.get("type") not in (None, "text")


def violating_content(req: dict) -> str:
    """JSON whose root has the wrong type for the requested schema (objects are the common case)."""
    rf = req.get("response_format")
    root = None
    if isinstance(rf, dict) and isinstance(rf.get("json_schema"), dict):
        schema = rf["json_schema"].get("schema")
        if isinstance(schema, dict):
            root = schema.get("type")
    return '{"schema_violation":true}' if root == "array" else '["schema_violation"]'


def ceil4(n: int) -> int:
    return (n + 3) // 4


# ---------------------------------------------------------------- script loading and validation

def _check(cond: bool, where: str, msg: str):
    if not cond:
        raise ScriptError(f"{where}: {msg}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


class Fault:
    __slots__ = ("kind", "p", "times", "used")

    def __init__(self, spec, where: str, allow_times: bool = True):
        if isinstance(spec, str):
            spec = {"kind": spec}
        _check(isinstance(spec, dict), where, "a fault is a kind name or an object with \"kind\"")
        kind = spec.get("kind")
        _check(kind in FAULT_KEYS, where, f"unknown fault kind {kind!r}; known: {', '.join(sorted(FAULT_KEYS))}")
        allowed = FAULT_KEYS[kind] | {"kind"} | ({"times"} if allow_times else set())
        extra = set(spec) - allowed
        _check(not extra, where, f"unknown key(s) {sorted(extra)} for fault {kind!r}; allowed: {sorted(allowed)}")
        self.kind, self.p, self.used = kind, spec, 0
        self.times = spec.get("times")
        _check(self.times is None or (_is_int(self.times) and self.times >= 0), where, "times must be an integer >= 0")
        for key in ("seconds", "interval_ms", "fraction"):
            if key in spec:
                _check(_is_num(spec[key]) and spec[key] >= 0, where, f"{key} must be a number >= 0")
        for key in ("status", "chunk_bytes", "bytes", "retry_after"):
            if key in spec:
                _check(_is_int(spec[key]) and spec[key] >= 0, where, f"{key} must be an integer >= 0")
        if "chunk_bytes" in spec:
            _check(spec["chunk_bytes"] >= 1, where, "chunk_bytes must be >= 1")
        if "status" in spec:
            _check(100 <= spec["status"] <= 599, where, "status must be 100..599")
        if "then" in spec:
            _check(spec["then"] in ("respond", "close", "reset"), where, "then must be respond, close or reset")
        if "retry_after_format" in spec:
            _check(spec["retry_after_format"] in ("seconds", "date", "none"), where,
                   "retry_after_format must be seconds, date or none")
        if "headers" in spec:
            _check(isinstance(spec["headers"], dict), where, "headers must be an object")
        for key in ("body", "content", "message"):
            if key in spec:
                _check(isinstance(spec[key], str), where, f"{key} must be a string")

    def active(self) -> bool:
        return self.times is None or self.used < self.times


def load_response(spec, where: str) -> dict:
    _check(isinstance(spec, dict), where, "a response is an object")
    extra = set(spec) - RESPOND_KEYS
    _check(not extra, where, f"unknown key(s) {sorted(extra)}; allowed: {sorted(RESPOND_KEYS)}")
    status = spec.get("status", 200)
    _check(_is_int(status) and 100 <= status <= 599, where, "status must be an integer 100..599")
    if "content" in spec:
        _check(spec["content"] is None or isinstance(spec["content"], str), where, "content must be a string or null")
    if "echo" in spec:
        _check(isinstance(spec["echo"], bool), where, "echo must be true or false")
    if "content_from_tool" in spec:
        pattern = spec["content_from_tool"]
        _check(isinstance(pattern, str), where, "content_from_tool must be a regular expression (a string)")
        try:
            re.compile(pattern)
        except re.error as e:
            _check(False, where, f"content_from_tool is not a regular expression: {e}")
    if "usage" in spec:
        u = spec["usage"]
        _check(isinstance(u, dict) and all(_is_int(v) for v in u.values()), where,
               "usage must be an object of integers")
    if "headers" in spec:
        _check(isinstance(spec["headers"], dict), where, "headers must be an object")
    for key in ("finish_reason", "model", "error", "body"):
        if key in spec:
            _check(isinstance(spec[key], str), where, f"{key} must be a string")
    calls = []
    for i, tc in enumerate(spec.get("tool_calls") or []):
        w = f"{where}.tool_calls[{i}]"
        _check(isinstance(tc, dict) and isinstance(tc.get("name"), str), w, "a tool call needs a string \"name\"")
        args = tc.get("arguments", {})
        calls.append({"id": tc.get("id", f"call_{i}"), "type": "function",
                      "function": {"name": tc["name"],
                                   "arguments": args if isinstance(args, str) else json.dumps(args)}})
    out = dict(spec)
    out["status"] = status
    out["_calls"] = calls
    if "json" in spec:
        out["_json_text"] = json.dumps(spec["json"], ensure_ascii=False)
    return out


class Rule:
    __slots__ = ("index", "name", "preds", "response", "times", "used", "fault")

    def __init__(self, index: int, spec):
        where = f"rules[{index}]"
        _check(isinstance(spec, dict), where, "a rule is an object")
        extra = set(spec) - RULE_KEYS
        _check(not extra, where, f"unknown key(s) {sorted(extra)}; allowed: {sorted(RULE_KEYS)}")
        self.index = index
        self.name = spec.get("name", f"rule[{index}]")
        _check(isinstance(self.name, str), where, "name must be a string")
        self.times = spec.get("times")
        _check(self.times is None or (_is_int(self.times) and self.times >= 0), where, "times must be an integer >= 0")
        self.used = 0
        self.preds = compile_match(spec.get("match", {}), where + ".match")
        resp = dict(spec["respond"]) if "respond" in spec else None
        if resp is not None:
            _check(isinstance(resp, dict), where + ".respond", "a response is an object")
        for key in ("echo", "json"):
            if key in spec:
                resp = resp if resp is not None else {}
                resp[key] = spec[key]
        self.response = load_response(resp, where + ".respond") if resp is not None else None
        self.fault = Fault(spec["fault"], where + ".fault") if "fault" in spec else None
        _check(self.response is not None or self.fault is not None, where,
               "a rule needs \"respond\", \"echo\", \"json\" or \"fault\"")


def compile_match(m, where: str):
    _check(isinstance(m, dict), where, "match is an object")
    extra = set(m) - MATCH_KEYS
    _check(not extra, where, f"unknown key(s) {sorted(extra)}; allowed: {sorted(MATCH_KEYS)}")
    # Every lambda binds its own values (default arguments): Python closures see a variable's last value.
    preds = []

    def strings(key):
        v = m[key]
        v = [v] if isinstance(v, str) else v
        _check(isinstance(v, list) and all(isinstance(s, str) for s in v), where,
               f"{key} must be a string or a list of strings")
        return v

    if "contains" in m:
        needles = [s.encode("utf-8", "surrogatepass") for s in strings("contains")]
        preds.append(lambda req, raw, needles=needles: all(n in raw for n in needles))
    if "not_contains" in m:
        bad = [s.encode("utf-8", "surrogatepass") for s in strings("not_contains")]
        preds.append(lambda req, raw, bad=bad: not any(n in raw for n in bad))
    if "model" in m:
        model = m["model"]
        _check(isinstance(model, str), where, "model must be a string")
        preds.append(lambda req, raw, model=model: req.get("model") == model)
    if "last_user_contains" in m:
        subs = strings("last_user_contains")
        preds.append(lambda req, raw, subs=subs: all(s in last_user_text(req) for s in subs))
    if "last_tool_contains" in m:
        subs = strings("last_tool_contains")
        preds.append(lambda req, raw, subs=subs: all(s in last_tool_text(req) for s in subs))
    if "last_role" in m:
        role = m["last_role"]
        _check(isinstance(role, str), where, "last_role must be a string")
        preds.append(lambda req, raw, role=role: last_role(req) == role)
    if "message_contains" in m:
        subs = strings("message_contains")
        preds.append(lambda req, raw, subs=subs: all(any(s in msg_text(x) for x in req.get("messages") or []) for s in subs))
    if "has_tools" in m:
        want = m["has_tools"]
        _check(isinstance(want, bool), where, "has_tools must be true or false")
        preds.append(lambda req, raw, want=want: bool(isinstance(req.get("tools"), list) and req["tools"]) == want)
    if "has_response_format" in m:
        want = m["has_response_format"]
        _check(isinstance(want, bool), where, "has_response_format must be true or false")
        preds.append(lambda req, raw, want=want: has_response_format(req) == want)
    return preds


class Script:
    def __init__(self, doc):
        if isinstance(doc, list):
            doc = {"rules": doc}
        _check(isinstance(doc, dict), "script", "a script is a list of rules or an object with \"rules\"")
        extra = set(doc) - TOP_KEYS
        _check(not extra, "script", f"unknown key(s) {sorted(extra)}; allowed: {sorted(TOP_KEYS)}")
        rules = doc.get("rules", [])
        _check(isinstance(rules, list), "script.rules", "rules must be a list")
        self.rules = [Rule(i, r) for i, r in enumerate(rules)]
        self.default = load_response(doc["default"], "script.default") if "default" in doc else None
        self.latency_ms = doc.get("latency_ms")
        _check(self.latency_ms is None or (_is_num(self.latency_ms) and self.latency_ms >= 0), "script.latency_ms",
               "must be a number >= 0")
        self.max_concurrent = doc.get("max_concurrent")
        _check(self.max_concurrent is None or (_is_int(self.max_concurrent) and self.max_concurrent >= 0),
               "script.max_concurrent", "must be an integer >= 0 (0 = no cap)")
        self.models = doc.get("models", ["scripted-model"])
        _check(isinstance(self.models, list) and all(isinstance(x, str) for x in self.models), "script.models",
               "must be a list of strings")
        self.api_key = doc.get("api_key")
        _check(self.api_key is None or isinstance(self.api_key, str), "script.api_key", "must be a string")
        self.random_rate, self.random_seed, self.random_kinds = 0.0, 0, []
        rf = doc.get("random_faults")
        if rf is not None:
            w = "script.random_faults"
            _check(isinstance(rf, dict), w, "must be an object")
            extra = set(rf) - {"rate", "seed", "kinds"}
            _check(not extra, w, f"unknown key(s) {sorted(extra)}; allowed: kinds, rate, seed")
            self.random_rate = rf.get("rate", 0.0)
            _check(_is_num(self.random_rate) and 0 <= self.random_rate <= 1, w + ".rate", "must be within 0..1")
            self.random_seed = rf.get("seed", 0)
            _check(_is_int(self.random_seed), w + ".seed", "must be an integer")
            kinds = rf.get("kinds", DEFAULT_RANDOM_KINDS)
            _check(isinstance(kinds, list) and kinds, w + ".kinds", "must be a non-empty list")
            self.random_kinds = [Fault(k, f"{w}.kinds[{i}]", allow_times=False) for i, k in enumerate(kinds)]


# ---------------------------------------------------------------- the server

class Conn:
    __slots__ = ("id", "writer", "counted", "aborted")

    def __init__(self, cid, writer):
        self.id, self.writer, self.counted, self.aborted = cid, writer, False, False


class Server:
    def __init__(self, script: Script, args):
        self.script = script
        self.latency = (args.latency_ms if args.latency_ms is not None else (script.latency_ms or 0)) / 1000.0
        cap = args.max_concurrent if args.max_concurrent is not None else (script.max_concurrent or 0)
        self.cap = cap
        self.sem = asyncio.Semaphore(cap) if cap > 0 else None
        self.seed = args.seed if args.seed is not None else script.random_seed
        self.max_records = args.max_records
        self.log = (open(args.log, "a", buffering=1 << 20, encoding="utf-8", errors="replace")
                    if args.log else None)
        self.t0 = time.monotonic()
        self.conn_tasks: set = set()
        self.conn_seq = 0
        self.conns_open = 0
        self.reset_state()

    def reset_state(self):
        self.rng = random.Random(self.seed)
        for r in self.script.rules:
            r.used = 0
            if r.fault is not None:
                r.fault.used = 0
        self.n_requests = 0
        self.by_status: dict = {}
        self.by_fault: dict = {}
        self.by_rule: dict = {}
        self.records: list = []
        self.records_dropped = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.queued = 0
        self.max_queued = 0
        self.connections_opened = 0
        self.connections_accepted = 0
        self.next_completion = 0
        self.abandoned = 0

    # -- bookkeeping

    def record(self, conn, method, path, headers, raw, req, rule, fault, status=None, final=True):
        """Counts and keeps one request; `final` also counts its status and logs it (else finish() does)."""
        self.n_requests += 1
        if not conn.counted:
            conn.counted = True
            self.connections_opened += 1
        if fault is not None:
            self.by_fault[fault] = self.by_fault.get(fault, 0) + 1
        if rule is not None:
            self.by_rule[rule] = self.by_rule.get(rule, 0) + 1
        rec = {"seq": self.n_requests - 1, "time": time.time(), "t": round(time.monotonic() - self.t0, 6),
               "connection": conn.id, "method": method, "path": path, "headers": headers}
        if req is not None:
            rec["body"] = req
        else:
            rec["body"] = None
            if raw:
                rec["body_text"] = raw.decode("utf-8", "replace")
        rec["rule"], rec["fault"], rec["status"] = rule, fault, None
        if len(self.records) < self.max_records:
            self.records.append(rec)
        else:
            self.records_dropped += 1
        if final:
            self.finish(rec, status)
        return rec

    def finish(self, rec, status):
        """The status a request got (None: no response, e.g. a reset), counted and logged."""
        rec["status"] = status
        if status is not None:
            k = str(status)
            self.by_status[k] = self.by_status.get(k, 0) + 1
        if self.log is not None:
            self.log.write(json.dumps(rec, ensure_ascii=False) + "\n")

    def stats(self) -> dict:
        return {
            "requests": self.n_requests, "by_status": self.by_status, "by_fault": self.by_fault,
            "by_rule": self.by_rule, "max_in_flight_observed": self.max_in_flight,
            "connections_opened": self.connections_opened, "connections_accepted": self.connections_accepted,
            "connections_open": self.conns_open, "in_flight": self.in_flight, "queued": self.queued,
            "max_queued_observed": self.max_queued, "abandoned": self.abandoned,
            "records_dropped": self.records_dropped,
            "latency_ms": self.latency * 1000.0, "max_concurrent": self.cap,
            "uptime_s": round(time.monotonic() - self.t0, 3),
            "rules": [{"name": r.name, "used": r.used, "times": r.times,
                       "fault_used": r.fault.used if r.fault else None} for r in self.script.rules],
        }

    def flush_log(self):
        if self.log is not None:
            try:
                self.log.flush()
            except OSError:
                pass

    # -- HTTP plumbing

    @staticmethod
    def head(status: int, length: int, keep: bool, headers=None, ctype="application/json") -> bytes:
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()) if headers else ""
        return (f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {length}\r\nConnection: {'keep-alive' if keep else 'close'}\r\n"
                f"Server: t2s-scripted\r\n{extra}\r\n").encode("latin-1", "replace")

    async def send(self, conn, status, body: bytes, keep: bool, headers=None):
        w = conn.writer
        w.write(self.head(status, len(body), keep, headers) + body)
        await w.drain()

    async def serve_conn(self, reader, writer):
        task = asyncio.current_task()
        self.conn_tasks.add(task)
        self.conn_seq += 1
        self.connections_accepted += 1
        self.conns_open += 1
        conn = Conn(self.conn_seq, writer)
        # asyncio recv()s into a fresh 256 KiB bytes object, above glibc's mmap threshold: each read then
        # costs an mmap/munmap and page faults (most of the CPU per request here). 64 KiB stays on the heap.
        if getattr(writer.transport, "max_size", 0) > 65536:
            writer.transport.max_size = 65536
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError as e:
                    if e.partial.strip():
                        await self.send(conn, 400, error_body(400, "incomplete request head"), False)
                    break
                except asyncio.LimitOverrunError:
                    await self.send(conn, 431, error_body(431, f"request head larger than {MAX_HEAD_BYTES} bytes"),
                                    False)
                    break
                head = head.lstrip(b"\r\n")
                if not head:
                    continue
                try:
                    keep = await self.handle(conn, reader, head)
                except HttpError as e:
                    await self.send(conn, e.status, error_body(e.status, e.message, e.err_type), not e.close)
                    keep = not e.close
                if not keep or conn.aborted:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, OSError):
            pass  # the client went away mid-request: nothing to answer
        except asyncio.CancelledError:
            pass  # shutdown
        except Exception as e:  # a bug here must not take the server down
            print(f"scripted_server: internal error: {type(e).__name__}: {e}", file=sys.stderr)
            try:
                await self.send(conn, 500, error_body(500, f"scripted server internal error: {e}"), False)
            except Exception:
                pass
        finally:
            self.conns_open -= 1
            self.conn_tasks.discard(task)
            if not conn.aborted:
                try:
                    writer.close()
                except Exception:
                    pass

    async def handle(self, conn, reader, head: bytes) -> bool:
        """Reads one request's body, answers it; returns whether the connection stays open."""
        try:
            text = head.decode("latin-1")
        except Exception:
            raise HttpError(400, "request head is not decodable", close=True)
        lines = text.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpError(400, f"malformed request line {lines[0][:200]!r}", close=True)
        method, target, version = parts
        headers: dict = {}
        for line in lines[1:]:
            if not line:
                continue
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise HttpError(400, f"malformed header line {line[:200]!r}", close=True)
            name = name.lower()
            value = value.strip()
            headers[name] = headers[name] + ", " + value if name in headers else value
        conn_hdr = headers.get("connection", "").lower()
        keep = ("close" not in conn_hdr) if version == "HTTP/1.1" else ("keep-alive" in conn_hdr)
        if "transfer-encoding" in headers:
            raise HttpError(411, "chunked (Transfer-Encoding) request bodies are not supported: send Content-Length",
                            close=True)
        cl = headers.get("content-length")
        if cl is None:
            length = 0
            if method == "POST" and not target.split("?", 1)[0].rstrip("/").endswith("/__reset"):
                raise HttpError(411, "POST needs a Content-Length header", close=not keep)
        else:
            if not cl.isdigit():
                raise HttpError(400, f"invalid Content-Length {cl[:50]!r}", close=True)
            length = int(cl)
            if length > MAX_BODY_BYTES:
                raise HttpError(413, f"body larger than {MAX_BODY_BYTES} bytes", close=True)
        if length and "100-continue" in headers.get("expect", "").lower():
            conn.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        raw = await reader.readexactly(length) if length else b""

        path, _, query = target.partition("?")
        if path.startswith("/v1/"):
            path = path[3:]
        elif path == "/v1":
            path = "/"
        if path.startswith("/__"):
            return await self.control(conn, method, path, query, raw, keep)
        if path == "/chat/completions":
            if method != "POST":
                self.record(conn, method, target, headers, raw, None, None, None, 405)
                raise HttpError(405, "use POST for /chat/completions", close=not keep)
            return await self.chat(conn, reader, target, headers, raw, keep)
        if path == "/models":
            if method != "GET":
                self.record(conn, method, target, headers, raw, None, None, None, 405)
                raise HttpError(405, "use GET for /models", close=not keep)
            self.record(conn, method, target, headers, raw, None, None, None, 200)
            body = jbytes({"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "t2s-scripted"} for m in self.script.models]})
            await self.send(conn, 200, body, keep)
            return keep
        self.record(conn, method, target, headers, raw, None, None, None, 404)
        raise HttpError(404, f"unknown path {path[:200]!r}; this server answers POST /v1/chat/completions and "
                             "GET /v1/models", close=not keep, err_type="not_found_error")

    async def control(self, conn, method, path, query, raw, keep) -> bool:
        if path == "/__stats" and method == "GET":
            self.flush_log()
            await self.send(conn, 200, jbytes(self.stats()), keep)
        elif path == "/__requests" and method == "GET":
            self.flush_log()
            since = 0
            for kv in query.split("&"):
                k, _, v = kv.partition("=")
                if k == "since" and v.isdigit():
                    since = int(v)
            recs = self.records if since == 0 else [r for r in self.records if r["seq"] >= since]
            await self.send(conn, 200, jbytes(recs), keep)
        elif path == "/__reset" and method == "POST":
            self.reset_state()
            self.flush_log()
            await self.send(conn, 200, b'{"reset":true}', keep)
        elif path == "/__script" and method == "POST":
            try:
                script = Script(json.loads(raw))
            except (ValueError, ScriptError) as e:
                raise HttpError(400, f"invalid script: {e}", close=not keep)
            self.script = script
            self.reset_state()
            await self.send(conn, 200, b'{"script":"replaced"}', keep)
        else:
            raise HttpError(404, f"unknown control endpoint {method} {path}; known: GET /__stats, GET /__requests, "
                                 "POST /__reset, POST /__script", close=not keep, err_type="not_found_error")
        return keep

    # -- chat completions

    def select(self, req: dict, raw: bytes):
        """First rule that matches (and still has answers left), in arrival order."""
        for rule in self.script.rules:
            if rule.times is not None and rule.used >= rule.times:
                continue
            fault_active = rule.fault is not None and rule.fault.active()
            if rule.response is None and not fault_active:
                continue
            ok = True
            for p in rule.preds:
                if not p(req, raw):
                    ok = False
                    break
            if not ok:
                continue
            rule.used += 1
            if fault_active:
                rule.fault.used += 1
                return rule, rule.fault
            return rule, None
        return None, None

    async def chat(self, conn, reader, target, headers, raw, keep) -> bool:
        req = None
        try:
            req = json.loads(raw) if raw else None
        except ValueError as e:
            self.record(conn, "POST", target, headers, raw, None, None, None, 400)
            raise HttpError(400, f"request body is not valid JSON: {e}", close=not keep)
        if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
            self.record(conn, "POST", target, headers, raw, req, None, None, 400)
            raise HttpError(400, "request body must be a JSON object with a \"messages\" list", close=not keep)
        if self.script.api_key is not None and headers.get("authorization") != "Bearer " + self.script.api_key:
            self.record(conn, "POST", target, headers, raw, req, None, None, 401)
            raise HttpError(401, "missing or wrong API key (Authorization: Bearer ...)", close=not keep,
                            err_type="authentication_error")
        if req.get("stream"):
            self.record(conn, "POST", target, headers, raw, req, None, None, 400)
            raise HttpError(400, "stream=true is not supported by the scripted server", close=not keep)

        rule, fault = self.select(req, raw)
        # Two draws per request whatever happens, so the fault sequence depends only on seed and order.
        r1, r2 = self.rng.random(), self.rng.random()
        if fault is None and self.script.random_rate > 0 and r1 < self.script.random_rate:
            kinds = self.script.random_kinds
            fault = kinds[min(int(r2 * len(kinds)), len(kinds) - 1)]
        resp = rule.response if rule is not None else self.script.default
        rule_name = rule.name if rule is not None else ("default" if resp is not None else None)
        rec = self.record(conn, "POST", target, headers, raw, req, rule_name, fault.kind if fault else None,
                          final=False)

        if self.sem is not None:
            self.queued += 1
            if self.queued > self.max_queued:
                self.max_queued = self.queued
            try:
                await self.sem.acquire()
            finally:
                self.queued -= 1
            try:
                if reader.at_eof() or conn.writer.transport.is_closing():
                    # The client left while queued (e.g. its timeout): its slot goes to the next one.
                    self.abandoned += 1
                    rec["abandoned"] = True
                    self.finish(rec, None)
                    return False
                out = await self.process(req, resp, fault, rec)
            finally:
                self.sem.release()
        else:
            out = await self.process(req, resp, fault, rec)
        return await self.deliver(conn, out, fault, keep)

    async def process(self, req, resp, fault, rec):
        """The part under the concurrency cap: the latency, then building the answer."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            out = self.build(req, resp, fault)
        finally:
            self.in_flight -= 1
        kind = fault.kind if fault is not None else None
        silent = kind == "reset" or (kind == "stall" and fault.p.get("then", "respond") != "respond")
        self.finish(rec, None if silent else out[0])
        return out

    def build(self, req, resp, fault):
        """Returns (status, headers, body bytes) of the answer (a fault may then mangle its delivery)."""
        kind = fault.kind if fault is not None else None
        if kind == "status":
            p = fault.p
            status = p.get("status", 500)
            body = p["body"].encode("utf-8", "replace") if "body" in p else error_body(
                status, p.get("message", f"injected fault: status {status}"), p.get("type"), p.get("code"))
            return status, p.get("headers"), body
        if kind == "rate_limit":
            p = fault.p
            hdrs = dict(p.get("headers") or {})
            secs = p.get("retry_after", 1)
            fmt = p.get("retry_after_format", "seconds")
            if fmt == "seconds":
                hdrs["Retry-After"] = str(secs)
            elif fmt == "date":
                hdrs["Retry-After"] = formatdate(time.time() + secs, usegmt=True)
            return 429, hdrs, error_body(429, p.get("message", "injected fault: rate limit reached"))
        if kind == "invalid_json":
            return 200, None, fault.p["body"].encode("utf-8", "replace") if "body" in fault.p else BROKEN_JSON
        if resp is None:
            if kind is None or kind in ("reset", "stall", "slow_body", "truncated"):
                return 404, None, error_body(404, "no script rule matched this request and the script has no "
                                                  "\"default\"", "not_found_error")
            resp = {"status": 200, "_calls": []}
        if kind == "schema_violation":
            p = fault.p
            content = p["content"] if "content" in p else (
                json.dumps(p["json"]) if "json" in p else violating_content(req))
            return 200, resp.get("headers"), self.completion(req, resp, content, [], "stop")
        if kind == "ignore_response_format":
            return 200, resp.get("headers"), self.completion(req, resp, fault.p.get("content", PROSE), [], "stop")
        status = resp["status"]
        if "body" in resp:
            return status, resp.get("headers"), resp["body"].encode("utf-8", "replace")
        if status != 200:
            return status, resp.get("headers"), error_body(status, resp.get("error", f"scripted status {status}"))
        if resp.get("echo"):
            content = last_user_text(req)
        elif "content_from_tool" in resp:
            # What the last tool call printed decides the answer: an agent that acts on real output.
            found = re.search(resp["content_from_tool"], last_tool_text(req))
            content = "" if found is None else (found.group(1) if found.re.groups else found.group(0))
        elif "_json_text" in resp:
            content = resp["_json_text"]
        else:
            content = resp.get("content", None if resp["_calls"] else "")
        calls = resp["_calls"]
        if kind == "invalid_utf8":
            content = (content or "") + UTF8_MARK
            body = self.completion(req, resp, content, calls, None)
            return 200, resp.get("headers"), body.replace(jbytes(UTF8_MARK)[1:-1], BAD_UTF8)
        return 200, resp.get("headers"), self.completion(req, resp, content, calls, None)

    def completion(self, req, resp, content, calls, finish) -> bytes:
        self.next_completion += 1
        prompt = 0
        for m in req.get("messages") or []:
            prompt += len(msg_text(m).encode("utf-8", "surrogatepass"))
        out_bytes = len(content.encode("utf-8", "surrogatepass")) if isinstance(content, str) else 0
        for c in calls:
            out_bytes += len(c["function"]["arguments"].encode("utf-8", "surrogatepass"))
        usage = {"prompt_tokens": ceil4(prompt), "completion_tokens": ceil4(out_bytes)}
        usage.update(resp.get("usage") or {})
        if "total_tokens" not in (resp.get("usage") or {}):
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        message = {"role": "assistant", "content": content}
        if calls:
            message["tool_calls"] = calls
        if finish is None:
            finish = resp.get("finish_reason", "tool_calls" if calls else "stop")
        return jbytes({
            "id": f"chatcmpl-t2s-{self.next_completion}", "object": "chat.completion", "created": int(time.time()),
            "model": resp.get("model") or req.get("model") or "scripted-model",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        })

    async def deliver(self, conn, out, fault, keep) -> bool:
        status, hdrs, body = out
        w = conn.writer
        kind = fault.kind if fault is not None else None
        if kind is None or kind in ("status", "rate_limit", "invalid_json", "invalid_utf8", "schema_violation",
                                    "ignore_response_format"):
            await self.send(conn, status, body, keep, hdrs)
            return keep
        p = fault.p
        if kind == "stall":
            await asyncio.sleep(p.get("seconds", 60))
            then = p.get("then", "respond")
            if then == "respond":
                await self.send(conn, status, body, keep, hdrs)
                return keep
            if then == "close":
                return False
            kind = "reset"
        if kind == "reset":
            self.abort(conn)
            return False
        if kind == "truncated":
            n = p["bytes"] if "bytes" in p else int(len(body) * p.get("fraction", 0.5))
            n = max(0, min(n, len(body) - 1))
            w.write(self.head(status, len(body), False, hdrs) + body[:n])
            await w.drain()
            return False
        if kind == "slow_body":
            w.write(self.head(status, len(body), keep, hdrs))
            await w.drain()
            step = p.get("chunk_bytes", 1)
            chunks = max(1, math.ceil(len(body) / step))
            pause = p["seconds"] / chunks if "seconds" in p else p.get("interval_ms", 1000) / 1000.0
            for i in range(0, len(body), step):
                if i:
                    await asyncio.sleep(pause)
                if w.is_closing():
                    return False
                w.write(body[i:i + step])
                await w.drain()
            return keep
        raise AssertionError(f"unhandled fault {kind}")

    @staticmethod
    def abort(conn):
        """Close with an RST: SO_LINGER {on, 0} then close without flushing."""
        conn.aborted = True
        try:
            sock = conn.writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        conn.writer.transport.abort()


# ---------------------------------------------------------------- main

def write_port_file(path: str, port: int):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.replace(tmp, path)


async def amain(args) -> int:
    try:
        with open(args.script, "rb") as f:
            script = Script(json.load(f))
    except (OSError, ValueError, ScriptError) as e:
        print(f"scripted_server: cannot load script {args.script}: {e}", file=sys.stderr)
        return 2
    if args.validate:
        print(f"scripted_server: {args.script}: {len(script.rules)} rule(s), valid")
        return 0
    try:
        srv = Server(script, args)
    except OSError as e:
        print(f"scripted_server: cannot open log {args.log}: {e}", file=sys.stderr)
        return 2
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = await asyncio.start_server(srv.serve_conn, host=args.host, port=args.port, limit=MAX_HEAD_BYTES,
                                            backlog=4096, reuse_address=True)
    except OSError as e:
        print(f"scripted_server: cannot listen on {args.host}:{args.port}: {e}", file=sys.stderr)
        return 2
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        write_port_file(args.port_file, port)
    if not args.quiet:
        print(f"scripted_server: listening on http://{args.host}:{port}/v1 ({len(script.rules)} rule(s))",
              file=sys.stderr, flush=True)

    async def flusher():
        while True:
            await asyncio.sleep(1.0)
            srv.flush_log()

    ft = asyncio.create_task(flusher())
    await stop.wait()
    server.close()
    ft.cancel()
    tasks = list(srv.conn_tasks)
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=2.0)
    srv.flush_log()
    if srv.log is not None:
        srv.log.close()
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Scripted OpenAI-compatible chat-completions server (see README.md).")
    ap.add_argument("--script", required=True, help="JSON script: rules, default, faults")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 (default) = pick a free port")
    ap.add_argument("--port-file", help="write the chosen port here (atomically) once listening")
    ap.add_argument("--log", help="append every request as one JSON line (buffered, flushed each second)")
    ap.add_argument("--latency-ms", type=float, help="fixed latency before each completion (overrides script)")
    ap.add_argument("--max-concurrent", type=int, help="cap on completions processed at once; 0 = none")
    ap.add_argument("--seed", type=int, help="seed of random_faults (overrides script)")
    ap.add_argument("--max-records", type=int, default=1_000_000, help="requests kept in memory for /__requests")
    ap.add_argument("--validate", action="store_true", help="check the script and exit")
    ap.add_argument("--quiet", action="store_true", help="no startup line on stderr")
    args = ap.parse_args(argv)
    if args.latency_ms is not None and args.latency_ms < 0:
        ap.error("--latency-ms must be >= 0")
    if args.max_concurrent is not None and args.max_concurrent < 0:
        ap.error("--max-concurrent must be >= 0")
    # Many long-lived records: collect young objects less often (the records are never cyclic).
    gc.set_threshold(50_000, 20, 100)
    try:  # benchmarks may hold more connections than the default 1024 descriptors
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    except (ValueError, OSError):
        pass
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
