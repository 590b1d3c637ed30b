"""`hive-host serve` against the official openai client (tests/server/run.sh pins it): chat,
completion, streaming, usage; per-request experts equal `hive-host generate`; concurrent
clients over different expert sets equal their solo runs; every error case with its error
object; a client that disconnects frees its KV; a second chat turn hits the prefix cache;
model "auto" routes each request (X-Hive-Experts header, /metrics label); SIGTERM exits 0;
structured output (response_format, grammar, regex, the experts' manifest grammars) checked by
Python's json, jsonschema and re, alone and in a batch; a broken package in an --expert-dir
fails only its own requests; speculative decoding (the `speculative` field, --draft) leaves greedy
answers byte-identical, alone and in a batch, shows its accepted drafts, refuses bad values and
what serve cannot speculate with. Real SmolLM2 model and the shipped experts (examples/experts)."""
import concurrent.futures as cf
import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import jsonschema
import openai

from serverlib import Server, parse_args, run_tests

ARGS = parse_args()
KEY = "test-key-123"
A = Server(ARGS, "--max-body-kb", "64", log_name="a")
# B: one sequence at a time, a queue of one, an API key
B = Server(ARGS, "--api-key", KEY, "--max-queue", "1", ctx=512, parallel=1, log_name="b")
client = openai.OpenAI(base_url=A.base + "/v1", api_key="none", max_retries=0, timeout=300)
BASE = client.models.list().data[0].id

SQL_Q = "Schema: users(id, name, age, city); orders(id, user_id, product, amount)\nQuestion: Which users live in Toronto?"
JSON_Q = "Extract the person as JSON: Oliver is 29 years old and lives in Toronto."
CAPS_Q = "What is the capital of Norway?"


def chat(model, text, **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}], **kw)


def check_error(exc_info, status, param=None, code=None):
    e = exc_info
    assert e.status_code == status, (e.status_code, e.body)
    body = e.body if isinstance(e.body, dict) else {}
    body = body.get("error", body)
    assert body.get("message"), body
    assert body.get("type"), body
    if param is not None:
        assert body.get("param") == param, body
    if code is not None:
        assert body.get("code") == code, body


def expect(status, fn, param=None, code=None):
    try:
        fn()
    except openai.APIStatusError as e:
        check_error(e, status, param, code)
        return
    raise AssertionError("expected HTTP %d" % status)


def raw_error(server, status, method, path, body=None, raw=None, headers=None, param=None):
    st, out, hdrs = server.request(method, path, body=body, raw=raw, headers=headers)
    assert st == status, (st, out)
    assert isinstance(out, dict) and "error" in out and out["error"]["message"] and out["error"]["type"], out
    if param is not None:
        assert out["error"]["param"] == param, out
    return hdrs


def test_models_health_metrics():
    ids = [m.id for m in client.models.list().data]
    assert ids[0] == BASE and {"json", "sql", "ia3", "soft-prompt", "auto"} <= set(ids), ids
    st, body, _ = A.request("GET", "/v1/models")
    assert all(m["description"] for m in body["data"]), body
    st, body, _ = A.request("GET", "/health")
    assert st == 200 and body["status"] == "ok"
    m = A.metrics()
    for k in ("hive_requests_running", "hive_requests_waiting", "hive_prompt_tokens_total", "hive_kv_pages_free",
              "hive_kv_pages_used", "hive_prefix_cache_hits_total", "hive_expert_cache_hits_total",
              "hive_expert_cache_misses_total", "hive_expert_cache_loads_total", "hive_expert_cache_evictions_total",
              "hive_time_to_first_token_seconds_count", "hive_e2e_request_latency_seconds_count"):
        assert k in m, k


def test_chat_completion_usage():
    r = chat(BASE, "What is the capital of France?", max_tokens=12, temperature=0)
    assert r.object == "chat.completion" and r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content and r.choices[0].finish_reason in ("stop", "length")
    assert r.usage.prompt_tokens > 5 and 0 < r.usage.completion_tokens <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    c = client.completions.create(model=BASE, prompt="The capital of France is", max_tokens=6, temperature=0)
    assert c.object == "text_completion" and c.choices[0].text and c.usage.completion_tokens <= 6


def test_streaming_equals_plain():
    full = chat("sql", SQL_Q, temperature=0, max_tokens=24)
    chunks = list(chat("sql", SQL_Q, temperature=0, max_tokens=24, stream=True,
                       stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full.choices[0].message.content, (text, full.choices[0].message.content)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == full.usage.completion_tokens
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)
    # completions stream
    parts = list(client.completions.create(model=BASE, prompt="One, two, three,", max_tokens=6, temperature=0,
                                           stream=True))
    assert "".join(p.choices[0].text for p in parts if p.choices)


def generate(expert, prompt):
    out = subprocess.run([ARGS.host_bin, "generate", "--model", ARGS.model, "--expert",
                          "%s/examples/experts/%s" % (ARGS.root, expert), "--chat", "--greedy", "--prompt", prompt,
                          "--threads", "2"], capture_output=True, text=True, check=True,
                         env={"HIVE_CONFIG": "/dev/null", "HIVE_LOG": "warn", "OMP_WAIT_POLICY": "passive"})
    return out.stdout[:-1] if out.stdout.endswith("\n") else out.stdout


def test_experts_equal_generate():
    for expert, q in (("json", JSON_Q), ("sql", SQL_Q), ("ia3", CAPS_Q)):
        want = generate(expert, q)
        got = chat(expert, q, temperature=0).choices[0].message.content
        assert got == want, (expert, got, want)
    # the same expert named through the body field, and sets through both ways
    a = chat(BASE, JSON_Q, temperature=0, max_tokens=16, extra_body={"experts": ["json"]}).choices[0].message.content
    b = chat("json", JSON_Q, temperature=0, max_tokens=16).choices[0].message.content
    assert a == b, (a, b)
    c = chat("json+ia3", CAPS_Q, temperature=0, max_tokens=12).choices[0].message.content
    d = chat(BASE, CAPS_Q, temperature=0, max_tokens=12, extra_body={"experts": ["json", "ia3"]}).choices[0].message.content
    assert c == d, (c, d)


def test_expert_weights():
    # {"name", "weight"} in `experts`: weight 1 is the expert as named; the LoRA `json` at 0.5 is
    # what `generate --expert .../json:0.5` writes
    one = chat(BASE, JSON_Q, temperature=0, max_tokens=16,
               extra_body={"experts": [{"name": "json", "weight": 1}]}).choices[0].message.content
    assert one == chat("json", JSON_Q, temperature=0, max_tokens=16).choices[0].message.content
    want = generate("json:0.5", JSON_Q)
    got = chat(BASE, JSON_Q, temperature=0, extra_body={"experts": [{"name": "json", "weight": 0.5}]})
    assert got.choices[0].message.content == want, (got.choices[0].message.content, want)

    def runner_up(experts):  # the second-best first token's logprob, without the manifest grammar
        r = chat(BASE, JSON_Q, temperature=0, max_tokens=1, logprobs=True, top_logprobs=2,
                 response_format={"type": "text"}, extra_body={"experts": experts})
        return r.choices[0].logprobs.content[0].top_logprobs[1].logprob
    lp1, lp_half = runner_up(["json"]), runner_up([{"name": "json", "weight": 0.5}])
    assert abs(lp1 - lp_half) > 1e-2, (lp1, lp_half)  # the weight reached the model
    for bad in (0, -1, 101, "0.5", None):
        expect(400, lambda: chat(BASE, "hi", extra_body={"experts": [{"name": "json", "weight": bad}]}),
               param="experts")
    expect(400, lambda: chat(BASE, "hi", extra_body={"experts": [{"name": "json", "wieght": 0.5}]}), param="experts")
    expect(404, lambda: chat("json:0.5", "hi"), param="model")  # `model` takes names only
    # a weight means a LoRA's scale: the DoRA `sql` refuses one, naming itself and its type
    try:
        chat(BASE, SQL_Q, max_tokens=4, extra_body={"experts": [{"name": "sql", "weight": 0.5}]})
        raise AssertionError("a weighted DoRA expert was accepted")
    except openai.APIStatusError as e:
        check_error(e, 400)
        msg = (e.body.get("error", e.body) if isinstance(e.body, dict) else {}).get("message", "")
        assert "sql" in msg and "dora" in msg, msg


def test_concurrent_mixed_sets():
    jobs = [("json", JSON_Q), ("sql", SQL_Q), ("ia3", CAPS_Q), ("json+soft-prompt", CAPS_Q)] * 2
    solo = {}
    for model, q in jobs[:4]:
        solo[model] = chat(model, q, temperature=0, max_tokens=16).choices[0].message.content
    with cf.ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(lambda j: chat(j[0], j[1], temperature=0, max_tokens=16).choices[0].message.content, jobs))
    for (model, _), got in zip(jobs, outs):
        assert got == solo[model], (model, got, solo[model])


def test_sampling_fields():
    r = chat(BASE, "Say something.", max_tokens=8, temperature=0.9, top_p=0.9, seed=5, n=2,
             presence_penalty=0.5, frequency_penalty=0.5, stop=["\n"], logprobs=True, top_logprobs=2,
             extra_body={"top_k": 20, "min_p": 0.05, "repetition_penalty": 1.1,
                         "chat_template_kwargs": {"enable_thinking": False}})
    assert len(r.choices) == 2
    lp = r.choices[0].logprobs.content
    assert lp and len(lp[0].top_logprobs) == 2 and lp[0].logprob <= 0
    s1 = chat(BASE, "Say something.", max_tokens=8, temperature=0.9, seed=11).choices[0].message.content
    s2 = chat(BASE, "Say something.", max_tokens=8, temperature=0.9, seed=11).choices[0].message.content
    assert s1 == s2, (s1, s2)
    r = chat(BASE, "Count: 1, 2, 3,", max_completion_tokens=3, temperature=0)
    assert r.usage.completion_tokens <= 3 and r.choices[0].finish_reason == "length"


def test_errors():
    expect(404, lambda: chat("no-such-expert", "hi"), param="model", code="model_not_found")
    expect(404, lambda: chat(BASE, "hi", extra_body={"experts": ["nope"]}), param="experts")
    expect(400, lambda: chat("json+json", "hi"))  # cannot compose: the same expert twice
    expect(400, lambda: chat(BASE, "hi", top_p=1.5), param="top_p")
    expect(400, lambda: chat(BASE, "hi", temperature=-1), param="temperature")
    expect(400, lambda: chat(BASE, "hi", n=9), param="n")
    expect(400, lambda: chat(BASE, "hi", max_tokens=5000), param="max_tokens", code="context_length_exceeded")
    expect(400, lambda: chat(BASE, "hello " * 1500), code="context_length_exceeded")
    raw_error(A, 400, "POST", "/v1/chat/completions", raw=b"{not json")
    raw_error(A, 400, "POST", "/v1/chat/completions", body={"model": BASE, "messages": "hi"}, param="messages")
    raw_error(A, 400, "POST", "/v1/chat/completions",
              body={"model": BASE, "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"},
              param="temperature")
    raw_error(A, 400, "POST", "/v1/chat/completions",
              body={"model": BASE, "messages": [{"role": "wizard", "content": "hi"}]})
    raw_error(A, 400, "POST", "/v1/completions", body={"model": BASE}, param="prompt")
    raw_error(A, 413, "POST", "/v1/chat/completions",
              body={"model": BASE, "messages": [{"role": "user", "content": "x" * 100000}]})
    raw_error(A, 404, "GET", "/v1/nothing")
    raw_error(A, 405, "GET", "/v1/chat/completions")


def test_auth_and_queue():
    cb = openai.OpenAI(base_url=B.base + "/v1", api_key="wrong", max_retries=0, timeout=300)
    expect(401, lambda: cb.models.list())
    raw_error(B, 401, "POST", "/v1/experts/load", body={"name": "json"})
    raw_error(B, 401, "POST", "/v1/chat/completions", body={"model": "x", "messages": []})
    good = openai.OpenAI(base_url=B.base + "/v1", api_key=KEY, max_retries=0, timeout=300)
    assert good.models.list().data
    st, body, _ = B.request("POST", "/v1/experts/load", body={"name": "sql"}, headers={"Authorization": "Bearer " + KEY})
    assert st == 200 and body["loaded"], body
    st, body, _ = B.request("POST", "/v1/experts/unload", body={"name": "sql"},
                            headers={"Authorization": "Bearer " + KEY})
    assert st == 200 and not body["loaded"], body
    m = B.metrics()
    assert m["hive_expert_cache_loads_total"] >= 1 and m["hive_expert_cache_evictions_total"] >= 1, m
    # one running, one waiting: the rest get 429 with Retry-After
    def one(_):
        c = http.client.HTTPConnection("127.0.0.1", B.port, timeout=300)
        c.request("POST", "/v1/completions", body=json.dumps({"model": "x", "prompt": "Once upon a time",
                                                               "max_tokens": 40, "temperature": 0}),
                  headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        return r.status, r.getheader("Retry-After"), body
    # model "x" is unknown: 404 first, then a real burst
    st, _, body = one(0)
    assert st == 404 and body["error"]["code"] == "model_not_found", body
    def burst(_):
        c = http.client.HTTPConnection("127.0.0.1", B.port, timeout=300)
        c.request("POST", "/v1/completions", body=json.dumps({"model": B_BASE, "prompt": "Once upon a time",
                                                               "max_tokens": 40, "temperature": 0}),
                  headers={"Authorization": "Bearer " + KEY, "Content-Type": "application/json"})
        r = c.getresponse()
        body = json.loads(r.read())
        c.close()
        return r.status, r.getheader("Retry-After"), body
    with cf.ThreadPoolExecutor(6) as ex:
        res = list(ex.map(burst, range(6)))
    codes = sorted(r[0] for r in res)
    assert 200 in codes and 429 in codes and set(codes) <= {200, 429}, codes
    for st, retry, body in res:
        if st == 429:
            assert retry and body["error"]["type"] == "rate_limit_error", (retry, body)


B_BASE = BASE


def test_disconnect_frees_kv():
    before = A.wait_idle()
    c = http.client.HTTPConnection("127.0.0.1", A.port, timeout=300)
    c.request("POST", "/v1/chat/completions",
              body=json.dumps({"model": "sql", "messages": [{"role": "user", "content": SQL_Q}], "stream": True,
                               "max_tokens": 600, "temperature": 0.8, "ignore_eos": True}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    assert r.status == 200
    got = b""
    while got.count(b"data:") < 4:
        got += r.read1(4096)
    assert A.metrics()["hive_kv_pages_used"] > 0
    c.sock.close()  # leave mid-stream
    c.close()
    after = A.wait_idle(timeout=30)
    assert after["hive_requests_cancelled_total"] == before["hive_requests_cancelled_total"] + 1, after
    assert after["hive_kv_pages_used"] == 0
    assert after["hive_kv_pages_free"] + after["hive_kv_pages_cached"] == after["hive_kv_pages_total"]


def test_prefix_cache_second_turn():
    msgs = [{"role": "system", "content": "You are a helpful assistant named Hive."},
            {"role": "user", "content": "Name a fruit."}]
    r1 = client.chat.completions.create(model=BASE, messages=msgs, max_tokens=8, temperature=0)
    hits = A.metrics()["hive_prefix_cache_hits_total"]
    msgs += [{"role": "assistant", "content": r1.choices[0].message.content},
             {"role": "user", "content": "Another one."}]
    r2 = client.chat.completions.create(model=BASE, messages=msgs, max_tokens=8, temperature=0)
    cached = r2.usage.prompt_tokens_details.cached_tokens
    assert cached >= r1.usage.prompt_tokens - 1, (cached, r1.usage.prompt_tokens)
    assert A.metrics()["hive_prefix_cache_hits_total"] == hits + 1
    # an expert never sees the base model's KV (soft-prompt alone has run nothing yet)
    r3 = client.chat.completions.create(model="soft-prompt", messages=msgs, max_tokens=4, temperature=0)
    assert r3.usage.prompt_tokens_details.cached_tokens == 0, r3.usage


def test_tokenize_roundtrip():
    st, t, _ = A.request("POST", "/tokenize", body={"prompt": "Hello world", "add_special": False})
    assert st == 200 and t["count"] == len(t["tokens"]) > 0, t
    st, d, _ = A.request("POST", "/detokenize", body={"tokens": t["tokens"]})
    assert st == 200 and d["prompt"] == "Hello world", d
    raw_error(A, 400, "POST", "/detokenize", body={"tokens": [-1]}, param="tokens")


# Structured output. Each prompt's unconstrained greedy answer is prose, so a grammar that was
# ignored fails these checks (asserted below).
MOVIE = {"type": "object", "additionalProperties": False, "required": ["title", "year", "genres"],
         "properties": {"title": {"type": "string", "maxLength": 40},
                        "year": {"type": "integer", "minimum": 1900, "maximum": 2100},
                        "genres": {"type": "array", "items": {"enum": ["drama", "comedy", "action", "horror"]},
                                   "minItems": 1, "maxItems": 3}}}
MOVIE_Q = "Tell me about a famous movie."
MOVIE_RF = {"type": "json_schema", "json_schema": {"name": "movie", "schema": MOVIE, "strict": True}}
LIST_G = 'root ::= item (", " item){2}\nitem ::= [A-Z][a-z]{2,12}'
LIST_RE = r"[A-Z][a-z]{2,12}(, [A-Z][a-z]{2,12}){2}"
FRUITS_Q = "List three fruits."
CAT_Q = "Describe a cat."


def is_json(text):
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def valid(schema, text):
    try:
        jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(json.loads(text))
        return True
    except (ValueError, jsonschema.ValidationError):
        return False


def test_response_format_json_object():
    plain = chat(BASE, CAT_Q, temperature=0, max_tokens=40).choices[0].message.content
    assert not is_json(plain), plain
    r = chat(BASE, CAT_Q, temperature=0, max_tokens=40, response_format={"type": "json_object"})
    assert r.choices[0].finish_reason == "stop", r
    assert isinstance(json.loads(r.choices[0].message.content), dict), r.choices[0].message.content
    # /v1/completions takes it too
    q = "The JSON object for a cat:"
    plain = client.completions.create(model=BASE, prompt=q, max_tokens=60, temperature=0).choices[0].text
    assert not is_json(plain), plain
    c = client.completions.create(model=BASE, prompt=q, max_tokens=60, temperature=0,
                                  extra_body={"response_format": {"type": "json_object"}})
    assert isinstance(json.loads(c.choices[0].text), dict), c.choices[0].text


def test_response_format_json_schema():
    plain = chat(BASE, MOVIE_Q, temperature=0, max_tokens=60).choices[0].message.content
    assert not valid(MOVIE, plain), plain
    r = chat(BASE, MOVIE_Q, temperature=0, max_tokens=150, response_format=MOVIE_RF)
    assert r.choices[0].finish_reason == "stop" and valid(MOVIE, r.choices[0].message.content), r
    # n sampled choices: each walks the grammar on its own
    r = chat(BASE, MOVIE_Q, temperature=1.0, seed=3, n=3, max_tokens=200, response_format=MOVIE_RF)
    for ch in r.choices:
        assert ch.finish_reason == "stop" and valid(MOVIE, ch.message.content), ch
    # the json expert's manifest schema applies when the request sends none
    with open("%s/examples/experts/json/schema.json" % ARGS.root) as f:
        person = json.load(f)
    got = chat("json", CAT_Q, temperature=0, max_tokens=60).choices[0].message.content
    assert valid(person, got), got


def test_grammar_and_regex_fields():
    plain = chat(BASE, FRUITS_Q, temperature=0, max_tokens=40).choices[0].message.content
    assert not re.fullmatch(LIST_RE, plain), plain
    r = chat(BASE, FRUITS_Q, temperature=0, max_tokens=60, extra_body={"grammar": LIST_G})
    assert re.fullmatch(LIST_RE, r.choices[0].message.content), r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    # regex, with logprobs of the constrained distribution: only digits among the alternatives
    r = chat(BASE, "Phone?", temperature=0, max_tokens=20, logprobs=True, top_logprobs=5,
             extra_body={"regex": "[0-9]{3}-[0-9]{4}"})
    assert re.fullmatch(r"[0-9]{3}-[0-9]{4}", r.choices[0].message.content), r.choices[0].message.content
    first = r.choices[0].logprobs.content[0]
    assert first.top_logprobs and all(re.fullmatch(r"[0-9]+", t.token) for t in first.top_logprobs), first


def test_structured_streaming():
    full = chat(BASE, MOVIE_Q, temperature=0, max_tokens=150, response_format=MOVIE_RF).choices[0].message.content
    chunks = list(chat(BASE, MOVIE_Q, temperature=0, max_tokens=150, response_format=MOVIE_RF, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full and valid(MOVIE, text), (text, full)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]


def test_structured_errors():
    bad = lambda **kw: (lambda: chat(BASE, "hi", max_tokens=4, **kw))
    for schema, words in (({"type": "object", "properties": {"a": {"type": "strin"}}}, ["#/properties/a", "type"]),
                          ({"type": "object", "not": {"required": ["a"]}}, ["unsupported keyword 'not'"]),
                          ({"type": "number", "minimum": 1}, ["unsupported keyword 'minimum'"])):
        try:
            bad(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})()
            raise AssertionError("accepted: %s" % schema)
        except openai.BadRequestError as e:
            check_error(e, 400, param="response_format")
            body = e.body if isinstance(e.body, dict) else {}
            msg = body.get("error", body).get("message", "")
            assert all(w in msg for w in words), (words, msg)
    expect(400, bad(extra_body={"grammar": "root ::= item\n"}), param="grammar")  # an undefined rule
    expect(400, bad(extra_body={"grammar": "root ::= [a-"}), param="grammar")
    expect(400, bad(extra_body={"regex": "(a"}), param="regex")
    expect(400, bad(response_format={"type": "xml"}), param="response_format")
    expect(400, bad(response_format={"type": "json_schema"}), param="response_format")
    expect(400, bad(response_format={"type": "json_object"}, extra_body={"grammar": LIST_G}), param="grammar")
    # two experts whose manifests each set a grammar: the request must choose
    expect(400, lambda: chat("sql+json", "hi", max_tokens=4), param="model")
    r = chat("sql+json", "hi", max_tokens=4, temperature=0, response_format={"type": "text"})
    assert r.choices[0].message.content is not None


def test_structured_batch_equals_solo():
    sql_schema = ("Schema: users(id, name, age, city); orders(id, user_id, product, amount)\n"
                  "Question: Which users live in Toronto?")
    jobs = [(BASE, CAT_Q, {"response_format": {"type": "json_object"}}),
            (BASE, MOVIE_Q, {"response_format": MOVIE_RF}),
            (BASE, FRUITS_Q, {"extra_body": {"grammar": LIST_G}}),
            (BASE, "Phone?", {"extra_body": {"regex": "[0-9]{3}-[0-9]{4}"}}),
            (BASE, CAT_Q, {}),
            ("json", JSON_Q, {}),
            ("sql", sql_schema, {})]
    run = lambda j: chat(j[0], j[1], temperature=0, max_tokens=100, **j[2]).choices[0].message.content
    solo = [run(j) for j in jobs]
    with cf.ThreadPoolExecutor(len(jobs)) as ex:
        together = list(ex.map(run, jobs))
    for j, a, b in zip(jobs, solo, together):
        assert a == b, (j[0], j[2], a, b)
    # and each grammar held in the batch
    assert isinstance(json.loads(together[0]), dict) and valid(MOVIE, together[1]), together
    assert re.fullmatch(LIST_RE, together[2]) and re.fullmatch(r"[0-9]{3}-[0-9]{4}", together[3]), together
    assert not is_json(together[4]), together[4]


def test_model_auto_routes():
    # model "auto": each request is routed from its last user message; X-Hive-Experts names the set
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": SQL_Q}], temperature=0, max_tokens=24)
    assert raw.headers.get("x-hive-experts") == "sql", dict(raw.headers)
    r = raw.parse()
    assert r.model == "sql", r.model
    assert r.choices[0].message.content == chat("sql", SQL_Q, temperature=0, max_tokens=24).choices[0].message.content
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": JSON_Q}], temperature=0, max_tokens=24)
    assert raw.headers.get("x-hive-experts") == "json", dict(raw.headers)
    assert is_json(raw.parse().choices[0].message.content), raw.parse().choices[0].message.content
    # nothing passes the threshold: the base model, named as /v1/models names it
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Tell me a story about a dragon."}], max_tokens=4)
    assert raw.headers.get("x-hive-experts") == BASE, dict(raw.headers)
    # streaming carries the header too, and named sets report themselves
    with client.chat.completions.with_streaming_response.create(
            model="auto", messages=[{"role": "user", "content": SQL_Q}], max_tokens=4, stream=True) as st:
        assert st.headers.get("x-hive-experts") == "sql", dict(st.headers)
    raw = client.chat.completions.with_raw_response.create(
        model="json+ia3", messages=[{"role": "user", "content": CAPS_Q}], max_tokens=4)
    assert raw.headers.get("x-hive-experts") == "json+ia3", dict(raw.headers)
    m = A.metrics()
    assert m['hive_routed_requests_total{experts="sql"}'] >= 2, m
    assert m['hive_routed_requests_total{experts="json"}'] >= 1, m
    assert m['hive_routed_requests_total{experts="%s"}' % BASE] >= 1, m


def test_broken_expert_is_lazy():
    # --expert-dir is discovered by name only (docs/EXPERTS.md, A thousand experts): the server
    # starts with a broken package among good ones, serves the good ones, fails only the broken
    # one's requests (500 expert_unavailable, naming it) and leaves it out of /v1/models
    d = tempfile.mkdtemp(prefix="hive-server-lazy-")
    try:
        shutil.copytree(os.path.join(ARGS.root, "examples", "experts", "ia3"), os.path.join(d, "good"))
        os.mkdir(os.path.join(d, "broken"))
        with open(os.path.join(d, "broken", "manifest.json"), "w") as f:
            f.write('{"name": ')
        with open(os.path.join(d, "garbage.expert"), "w") as f:
            f.write("not an archive")
        c = Server(ARGS, "--expert-dir", d, ctx=256, parallel=1, log_name="lazy")
        try:
            for name, why in (("broken", "manifest.json: not valid JSON"), ("garbage", "not a readable .expert")):
                st, out, _ = c.request("POST", "/v1/completions", {"model": name, "prompt": "Hi", "max_tokens": 1})
                assert st == 500 and out["error"]["code"] == "expert_unavailable", (st, out)
                assert "expert '%s' (" % name in out["error"]["message"] and why in out["error"]["message"], out
            st, out, hdrs = c.request("POST", "/v1/completions", {"model": "good", "prompt": "Hi", "max_tokens": 2})
            assert st == 200 and {k.lower(): v for k, v in hdrs.items()}.get("x-hive-experts") == "good", (st, out, hdrs)
            st, out, _ = c.request("GET", "/v1/models")
            ids = [m["id"] for m in out["data"]]
            assert "good" in ids and "sql" in ids and "broken" not in ids and "garbage" not in ids, ids
            st, out, _ = c.request("POST", "/v1/completions", {"model": "broken", "prompt": "Hi", "max_tokens": 1})
            assert st == 500, (st, out)  # still failing, still named, server still up
        finally:
            assert c.stop() == 0, c.log_path
    finally:
        shutil.rmtree(d)


COPY_Q = "Copy this text exactly: The quick brown fox jumps over the lazy dog near the river bank on a sunny day."
LIST_Q = "Repeat this list exactly, twice: alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu."
CODE_P = "def add(a, b):\n    return a + b\n\ndef sub(a, b):\n    return a - b\n\ndef mul(a, b):\n    return a * b\n\ndef"
SPEC = {"speculative": {"draft": "lookup", "k": 8}}


def spec_counters(server):
    m = server.metrics()
    return m["hive_spec_drafted_tokens_total"], m["hive_spec_accepted_tokens_total"]


def test_speculative_greedy_identical():
    # lookup drafts (extra_body "speculative") never change a greedy answer; on copy-heavy
    # prompts they are accepted, which usage and /metrics show
    d0, a0 = spec_counters(A)
    for model, q in [(BASE, COPY_Q), (BASE, LIST_Q), ("sql", SQL_Q), ("json", JSON_Q), (BASE, CAPS_Q)]:
        plain = chat(model, q, temperature=0, max_tokens=48)
        spec = chat(model, q, temperature=0, max_tokens=48, extra_body=SPEC)
        assert spec.choices[0].message.content == plain.choices[0].message.content, (model, q)
        assert spec.choices[0].finish_reason == plain.choices[0].finish_reason
        assert spec.usage.completion_tokens == plain.usage.completion_tokens
        assert plain.usage.completion_tokens_details is None  # no speculation, no prediction counts
        if q == COPY_Q:
            det = spec.usage.completion_tokens_details
            assert det is not None and det.accepted_prediction_tokens > 0, spec.usage
        off = chat(model, q, temperature=0, max_tokens=48, extra_body={"speculative": {"draft": "none"}})
        assert off.choices[0].message.content == plain.choices[0].message.content
    plain = client.completions.create(model=BASE, prompt=CODE_P, temperature=0, max_tokens=48)
    spec = client.completions.create(model=BASE, prompt=CODE_P, temperature=0, max_tokens=48,
                                     extra_body={"speculative": {"draft": "lookup:2", "k": 14}})
    assert spec.choices[0].text == plain.choices[0].text
    d1, a1 = spec_counters(A)
    assert a1 > a0 and d1 > d0 and d1 - d0 >= a1 - a0, (d0, a0, d1, a1)
    # streaming speculates too, and says so in its usage chunk
    chunks = list(chat(BASE, COPY_Q, temperature=0, max_tokens=48, stream=True,
                       stream_options={"include_usage": True}, extra_body=SPEC))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == chat(BASE, COPY_Q, temperature=0, max_tokens=48).choices[0].message.content
    assert chunks[-1].usage.completion_tokens_details.accepted_prediction_tokens > 0


def test_speculative_concurrent_equals_sequential():
    # speculating and plain requests share the batch: each output equals its sequential run
    jobs = [(m, q, spec) for m, q in [(BASE, COPY_Q), (BASE, LIST_Q), ("sql", SQL_Q), ("json", JSON_Q)]
            for spec in (False, True)]
    run = lambda j: chat(j[0], j[1], temperature=0, max_tokens=40,
                         extra_body=SPEC if j[2] else {}).choices[0].message.content
    solo = [run(j) for j in jobs]
    with cf.ThreadPoolExecutor(len(jobs)) as ex:
        together = list(ex.map(run, jobs))
    for j, a, b in zip(jobs, solo, together):
        assert a == b, (j, a, b)
    for i in range(0, len(jobs), 2):
        assert solo[i] == solo[i + 1], jobs[i]
    # sampled rows verify by rejection sampling: n choices run and finish
    r = chat(BASE, COPY_Q, temperature=0.7, seed=3, n=2, max_tokens=24, extra_body=SPEC)
    assert len(r.choices) == 2 and all(c.finish_reason in ("stop", "length") for c in r.choices)
    # and under a grammar the output still parses
    r = chat(BASE, "Give a JSON object about a cat named Tom.", temperature=0, max_tokens=64,
             response_format={"type": "json_object"}, extra_body=SPEC)
    plain = chat(BASE, "Give a JSON object about a cat named Tom.", temperature=0, max_tokens=64,
                 response_format={"type": "json_object"})
    assert r.choices[0].message.content == plain.choices[0].message.content
    A.wait_idle()


def test_speculative_errors():
    bad = [({"k": 0}, "speculative.k"), ({"k": 15}, "speculative.k"), ({"k": "8"}, "speculative.k"),
           ({"k": 2.5}, "speculative.k"), ({"draft": 3}, "speculative.draft"),
           ({"draft": "bogus"}, "speculative.draft"), ({"draft": "lookup:0"}, "speculative.draft"),
           ("lookup", "speculative"), ({"drafter": "lookup"}, "speculative")]
    for value, param in bad:
        expect(400, lambda: chat(BASE, "hi", max_tokens=4, extra_body={"speculative": value}), param=param)
    for drafter in ("base", "model"):
        expect(400, lambda: chat(BASE, "hi", max_tokens=4, extra_body={"speculative": {"draft": drafter}}),
               param="speculative.draft", code="unsupported_drafter")
    raw_error(A, 400, "POST", "/v1/completions",
              body={"model": BASE, "prompt": "hi", "speculative": {"draft": "lookup", "k": -1}}, param="speculative.k")


def test_speculative_server_default():
    # --draft/--draft-max are the server's default; base and model are refused at start
    for flags in (["--draft", "base"], ["--draft", "model"], ["--draft-model", ARGS.model], ["--draft", "nope"]):
        p = subprocess.run([ARGS.host_bin, "serve", "--model", ARGS.model, "--port", "0", *flags],
                           capture_output=True, text=True, timeout=60, env=dict(os.environ, HIVE_CONFIG="/dev/null"))
        assert p.returncode == 2, (flags, p.returncode, p.stderr)
        assert "lookup" in p.stderr, (flags, p.stderr)
    C = Server(ARGS, "--draft", "lookup", "--draft-max", "6", ctx=512, parallel=2, log_name="c")
    try:
        cc = openai.OpenAI(base_url=C.base + "/v1", api_key="none", max_retries=0, timeout=300)
        ask = lambda **kw: cc.chat.completions.create(model=BASE, messages=[{"role": "user", "content": COPY_Q}],
                                                      temperature=0, max_tokens=40, **kw)
        default = ask()
        assert default.usage.completion_tokens_details.accepted_prediction_tokens > 0, default.usage
        off = ask(extra_body={"speculative": {"draft": "none"}})
        assert off.usage.completion_tokens_details is None
        assert off.choices[0].message.content == default.choices[0].message.content
        assert ask(extra_body={"speculative": {"k": 2}}).choices[0].message.content == off.choices[0].message.content
    finally:
        assert C.stop() == 0
    # --draft-corpus: server-wide, for every request that drafts by lookup; a bad file stops the start
    p = subprocess.run([ARGS.host_bin, "serve", "--model", ARGS.model, "--port", "0", "--draft-corpus", "/nonexistent.txt"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, HIVE_CONFIG="/dev/null"))
    assert p.returncode == 2 and "--draft-corpus /nonexistent.txt: No such file" in p.stderr, (p.returncode, p.stderr)
    # the request's experts' own draft corpus (the sql package's training.decoding.draft_corpus)
    # below a --draft-corpus on the command line, above one in the configuration file
    root = os.path.join(ARGS.root, "examples", "experts")
    json_corpus = os.path.join(root, "json", "draft-corpus.txt")
    q = SQL_Q.replace("Which users live in Toronto?", "What is the total amount of all orders for user 7?")
    accepted = lambda r: r.usage.completion_tokens_details.accepted_prediction_tokens \
        if r.usage.completion_tokens_details else 0
    ask = lambda c, model: c.chat.completions.create(model=model, messages=[{"role": "user", "content": q}],
                                                      temperature=0, max_tokens=40, extra_body=SPEC)
    own = chat("sql", q, temperature=0, max_tokens=40, extra_body=SPEC)  # server A: the package's corpus
    tmp = tempfile.mkdtemp(prefix="hive-corpus-")
    broken = os.path.join(tmp, "sql-broken")  # a copy whose corpus cannot be used (empty)
    shutil.copytree(os.path.join(root, "sql"), broken)
    with open(os.path.join(broken, "manifest.json")) as f:
        m = json.load(f)
    m["name"] = "sql-broken"
    with open(os.path.join(broken, "manifest.json"), "w") as f:
        json.dump(m, f)
    open(os.path.join(broken, "draft-corpus.txt"), "w").close()
    cfg = os.path.join(tmp, "hive.cfg")
    with open(cfg, "w") as f:
        f.write('speculative = { draft_corpus = "%s"; };\n' % json_corpus)
    D = Server(ARGS, "--draft-corpus", json_corpus, ctx=512, parallel=1, log_name="corpus")
    E = Server(ARGS, "--config", cfg, "--expert", broken, ctx=512, parallel=1, log_name="corpus-cfg")
    F = Server(ARGS, "--draft-corpus", "none", ctx=512, parallel=1, log_name="corpus-none")
    try:
        dc = openai.OpenAI(base_url=D.base + "/v1", api_key="none", max_retries=0, timeout=300)
        ec = openai.OpenAI(base_url=E.base + "/v1", api_key="none", max_retries=0, timeout=300)
        fc = openai.OpenAI(base_url=F.base + "/v1", api_key="none", max_retries=0, timeout=300)
        cli_wins, file_loses, none = ask(dc, "sql"), ask(ec, "sql"), ask(fc, "sql")
        for r in (cli_wins, file_loses, none):
            assert r.choices[0].message.content == own.choices[0].message.content
        assert accepted(own) > accepted(cli_wins), (own.usage, cli_wins.usage)
        assert accepted(own) > accepted(none), (own.usage, none.usage)
        assert accepted(file_loses) == accepted(own), (own.usage, file_loses.usage)
        # the package's file is read when a request first drafts from it: an empty one is a 500 naming it
        try:
            ask(ec, "sql-broken")
            raise AssertionError("an expert with an empty draft corpus answered")
        except openai.InternalServerError as e:
            body = e.response.json()["error"]
            assert body["code"] == "expert_unavailable" and "sql-broken" in body["message"] \
                and "draft-corpus.txt: empty" in body["message"], body
        plain = ec.chat.completions.create(model="sql-broken", messages=[{"role": "user", "content": q}],
                                           temperature=0, max_tokens=40)
        assert plain.choices[0].message.content == own.choices[0].message.content
    finally:
        assert D.stop() == 0
        assert E.stop() == 0
        assert F.stop() == 0
        shutil.rmtree(tmp)


def test_speculative_mamba2_refused():
    # a Mamba2 state cannot roll rejected drafts back: asked for, speculation is refused (the
    # tiny Mamba2 model of tests/golden); a server default would not apply, so --draft exits 2
    import argparse
    margs = argparse.Namespace(**dict(vars(ARGS), model=os.path.join(ARGS.root, "tests", "golden", "data", "mamba2")))
    p = subprocess.run([ARGS.host_bin, "serve", "--model", margs.model, "--port", "0", "--draft", "lookup"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ, HIVE_CONFIG="/dev/null"))
    assert p.returncode == 2 and "Mamba2" in p.stderr, (p.returncode, p.stderr)
    M = Server(margs, ctx=256, parallel=2, log_name="mamba2")
    try:
        body = {"model": "mamba2", "prompt": "a b c a b", "max_tokens": 4, "temperature": 0}
        st, out, _ = M.request("POST", "/v1/completions", body=body)
        assert st == 200, out
        raw_error(M, 400, "POST", "/v1/completions", body=dict(body, speculative={"draft": "lookup"}),
                  param="speculative")
        st, out2, _ = M.request("POST", "/v1/completions", body=dict(body, speculative={"draft": "none"}))
        assert st == 200 and out2["choices"][0]["text"] == out["choices"][0]["text"], out2
    finally:
        assert M.stop() == 0


def test_sigterm_exits_zero():
    # a request in flight when SIGTERM comes still finishes (deadline 10 s)
    with cf.ThreadPoolExecutor(1) as ex:
        n0 = A.metrics()["hive_requests_total"]
        fut = ex.submit(lambda: chat(BASE, "Count to five.", max_tokens=8, temperature=0))
        while A.metrics()["hive_requests_total"] == n0:  # the server has it
            time.sleep(0.01)
        rc = A.stop()
        assert rc == 0, "exit status %s (log %s)" % (rc, A.log_path)
        r = fut.result()
        assert r.choices[0].message.content
    assert B.stop() == 0


tests = [(n, f) for n, f in list(globals().items()) if n.startswith("test_") and callable(f)]
if os.environ.get("HIVE_SERVER_TESTS"):  # e.g. HIVE_SERVER_TESTS=test_expert_weights: a subset while debugging
    tests = [(n, f) for n, f in tests if n in os.environ["HIVE_SERVER_TESTS"].split(",")]
try:
    failed = run_tests(tests)
finally:
    for s in (A, B):
        if s.proc.poll() is None:
            s.proc.kill()
sys.exit(1 if failed else 0)
