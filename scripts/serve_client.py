"""Clients for `swiftlet serve` (and, for comparison, llama.cpp's llama-server), run by
scripts/serve-check.sh and scripts/serve-bench.sh inside their own venv.

  check  — the official `openai` client against the server: models, chat and completions
           (streamed and not), log-probabilities, seeds, embeddings, errors as the client's
           exceptions; every answer checked.
  load   — a bounded loop of concurrent clients for a fixed time: each sends request after
           request (streamed chat by default), through httpx or the official client, and every
           response is checked (status, a finished stream, text, finish_reason, usage); prints
           one JSON line of figures (tokens/s, time to first token, the client's own CPU time).
  same   — greedy chat and completion requests alone, then each among 15 others at once: the text
           must match (and the completion what `swiftlet generate --temperature 0` printed).
  idle   — the server's /metrics show no running sequence, queued request or KV block in use.
"""

import argparse
import asyncio
import json
import os
import random
import resource
import statistics
import sys
import time
import urllib.request

import openai

try:  # the HTTP library the openai client is built on (httpx2 in its 3.x releases)
    import httpx2 as httpx
except ImportError:
    import httpx

PROMPTS = [
    "ROMEO:", "JULIET:", "What is the matter, my lord?", "Speak, for I will hear you.",
    "KING HENRY:", "Tell me a story about the sea.", "First Citizen:", "O, what a noble mind",
    "Good morrow, cousin.", "How now, what news?", "HAMLET:", "Where is the king?",
    "Come, let us go.", "I pray you, sir,", "MACBETH:", "Is this a dagger",
]


def fail(message):
    print(f"serve_client: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def expect(condition, message):
    if not condition:
        fail(message)


# ---------------------------------------------------------------- check


def check(args):
    client = openai.OpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=120)
    model = args.model
    checks = 0

    def ok(what):
        nonlocal checks
        checks += 1
        print(f"  ok  {what}")

    models = client.models.list()
    expect(model in [m.id for m in models.data], f"{model} not in {models}")
    ok("models.list names the model")

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is your name?"}]
    whole = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0)
    choice = whole.choices[0]
    expect(isinstance(choice.message.content, str) and choice.message.role == "assistant", whole)
    expect(choice.finish_reason in ("stop", "length"), choice.finish_reason)
    expect(whole.usage.completion_tokens <= 25 and whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens, whole.usage)
    expect(whole.object == "chat.completion" and whole.id.startswith("chatcmpl-"), whole)
    ok(f"chat completion: {choice.message.content!r} ({choice.finish_reason}, {whole.usage.completion_tokens} tokens)")

    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    pieces, finish, usage, chunks = [], None, None, 0
    for chunk in stream:
        chunks += 1
        expect(chunk.object == "chat.completion.chunk", chunk)
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            if c.delta.content:
                pieces.append(c.delta.content)
            if c.finish_reason:
                finish = c.finish_reason
    expect("".join(pieces) == choice.message.content, f"streamed {''.join(pieces)!r} != {choice.message.content!r}")
    expect(finish == choice.finish_reason and usage is not None and usage.completion_tokens == whole.usage.completion_tokens, (finish, usage))
    ok(f"streamed chat equals the whole answer ({chunks} chunks, usage in the last)")

    completion = client.completions.create(model=model, prompt=["ROMEO:", "JULIET:"], max_tokens=16, temperature=0, logprobs=3)
    expect(len(completion.choices) == 2 and completion.object == "text_completion", completion)
    for c in completion.choices:
        lp = c.logprobs
        expect(len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset), lp)
        expect(all(v <= 0 for v in lp.token_logprobs), lp.token_logprobs)
        expect(all(abs(v - max(t.values())) < 1e-5 for v, t in zip(lp.token_logprobs, lp.top_logprobs)), "greedy tokens are the likeliest")
    ok("completions with two prompts and logprobs")

    streamed = client.completions.create(model=model, prompt="ROMEO:", max_tokens=16, temperature=0, stream=True)
    text = "".join(c.choices[0].text for c in streamed if c.choices)
    expect(text == completion.choices[0].text, f"{text!r} != {completion.choices[0].text!r}")
    ok("streamed completion equals the whole one")

    seeded = [client.completions.create(model=model, prompt="JULIET:", max_tokens=20, temperature=1, seed=11).choices[0].text for _ in range(2)]
    expect(seeded[0] == seeded[1], seeded)
    ok("the same seed gives the same text")

    logprobs = client.chat.completions.create(model=model, messages=messages, max_tokens=5, temperature=0, logprobs=True, top_logprobs=2)
    entries = logprobs.choices[0].logprobs.content
    expect(len(entries) >= 1 and all(len(e.top_logprobs) == 2 and e.bytes is not None for e in entries), entries)
    ok("chat logprobs with top_logprobs")

    embedded = client.embeddings.create(model=model, input=["the king", "a rose by any other name"])
    vectors = [e.embedding for e in embedded.data]
    expect(len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 0, embedded)
    expect(all(abs(sum(x * x for x in v) - 1) < 1e-3 for v in vectors), "unit length")
    as_float = client.embeddings.create(model=model, input="the king", encoding_format="float").data[0].embedding
    expect(max(abs(a - b) for a, b in zip(as_float, vectors[0])) < 1e-6, "base64 and float agree")
    ok(f"embeddings ({len(vectors[0])} dimensions; base64, the client's default, and float)")

    for bad, param in [(dict(temperature=5), "temperature"), (dict(max_tokens=0), "max_tokens"), (dict(top_p=2), "top_p"),
                       (dict(presence_penalty=3), "presence_penalty")]:
        try:
            client.chat.completions.create(model=model, messages=messages, **bad)
            fail(f"{bad} was accepted")
        except openai.BadRequestError as error:
            expect(error.status_code == 400 and error.body.get("param") == param, error.body)
    ok("out-of-range fields are BadRequestError naming the field")
    try:
        client.chat.completions.create(model="not-" + model, messages=messages)
        fail("a wrong model was accepted")
    except openai.NotFoundError:
        pass
    ok("an unknown model is NotFoundError")
    if args.api_key != "none":
        try:
            openai.OpenAI(base_url=args.base_url, api_key="wrong", max_retries=0).models.list()
            fail("a wrong API key was accepted")
        except openai.AuthenticationError:
            pass
        ok("a wrong API key is AuthenticationError")
    print(f"serve_client check: {checks} checks passed")


# ---------------------------------------------------------------- load


def machine_busy_seconds():
    """CPU time every process on the machine has used (from /proc/stat), in seconds."""
    fields = open("/proc/stat").readline().split()[1:]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def process_seconds(pid):
    """CPU time process `pid` (all its threads) has used, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def one_stream(http, url, headers, body, kind, disconnect_after=None):
    """One streamed request; returns (tokens, ttft, chunks, finish, time per output token). Every
    event is checked."""
    start = time.perf_counter()
    ttft, last, chunks, finish, usage, done, text = None, None, 0, None, None, False, []
    async with http.stream("POST", url, json=body, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"status {response.status_code}: {(await response.aread())[:300]!r}")
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload == "[DONE]":
                done = True
                break
            chunk = json.loads(payload)
            if chunk.get("usage"):
                usage = chunk["usage"]
            for c in chunk["choices"]:
                piece = c["delta"].get("content") if kind == "chat" else c.get("text")
                if piece:
                    last = time.perf_counter() - start
                    if ttft is None:
                        ttft = last
                    chunks += 1
                    text.append(piece)
                if c.get("finish_reason"):
                    finish = c["finish_reason"]
            if disconnect_after is not None and chunks >= disconnect_after:
                return None
    if not done or finish not in ("stop", "length") or usage is None:
        raise RuntimeError(f"stream ended badly: done={done} finish={finish} usage={usage}")
    tokens = usage["completion_tokens"]
    if tokens > body["max_tokens"] + 1 or (chunks == 0 and tokens > 1) or usage["total_tokens"] != usage["prompt_tokens"] + tokens:
        raise RuntimeError(f"inconsistent usage {usage} for {chunks} chunks")
    return tokens, ttft, chunks, finish, per_token(ttft, last, tokens)


def per_token(ttft, last, tokens):
    """Time per output token after the first (vLLM's TPOT): from the first piece to the last,
    over the tokens between them; None for a reply of one token."""
    if ttft is None or tokens < 2:
        return None
    return (last - ttft) / (tokens - 1)


async def one_whole(http, url, headers, body, kind):
    start = time.perf_counter()
    response = await http.post(url, json=body, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"status {response.status_code}: {response.text[:300]}")
    answer = response.json()
    choice = answer["choices"][0]
    text = choice["message"]["content"] if kind == "chat" else choice["text"]
    usage = answer["usage"]
    if not isinstance(text, str) or choice["finish_reason"] not in ("stop", "length") or usage["completion_tokens"] > body["max_tokens"] + 1:
        raise RuntimeError(f"bad answer {answer}")
    return usage["completion_tokens"], time.perf_counter() - start, 1, choice["finish_reason"], None


async def openai_request(client, kind, body, disconnect_after=None):
    """The same request through the official client (AsyncOpenAI); the same checks."""
    start = time.perf_counter()
    extra = {k: v for k, v in body.items() if k not in ("model", "messages", "prompt", "max_tokens", "temperature", "seed", "stream", "stream_options")}
    common = dict(model=body["model"], max_tokens=body["max_tokens"], temperature=body["temperature"], seed=body["seed"], extra_body=extra or None)
    chat = kind.startswith("chat")
    call = (lambda **kw: client.chat.completions.create(messages=body["messages"], **kw)) if chat else \
        (lambda **kw: client.completions.create(prompt=body["prompt"], **kw))
    if not body.get("stream"):
        answer = await call(**common)
        choice = answer.choices[0]
        text = choice.message.content if chat else choice.text
        if not isinstance(text, str) or choice.finish_reason not in ("stop", "length") or answer.usage.completion_tokens > body["max_tokens"] + 1:
            raise RuntimeError(f"bad answer {answer}")
        return answer.usage.completion_tokens, time.perf_counter() - start, 1, choice.finish_reason, None
    stream = await call(stream=True, stream_options={"include_usage": True}, **common)
    ttft, last, chunks, finish, usage = None, None, 0, None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            piece = c.delta.content if chat else c.text
            if piece:
                last = time.perf_counter() - start
                if ttft is None:
                    ttft = last
                chunks += 1
            if c.finish_reason:
                finish = c.finish_reason
        if disconnect_after is not None and chunks >= disconnect_after:
            await stream.close()
            return None
    if finish not in ("stop", "length") or usage is None or usage.total_tokens != usage.prompt_tokens + usage.completion_tokens:
        raise RuntimeError(f"stream ended badly: finish={finish} usage={usage}")
    return usage.completion_tokens, ttft, chunks, finish, per_token(ttft, last, usage.completion_tokens)


async def load(args):
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key != "none" else {}
    limits = httpx.Limits(max_connections=args.clients * 2, max_keepalive_connections=args.clients)
    results, failures, disconnects = [], [], 0
    started = time.perf_counter()
    deadline = started + args.seconds
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    machine_before = machine_busy_seconds()
    server_before = process_seconds(args.server_pid) if args.server_pid else 0

    async def client(index, http):
        nonlocal disconnects
        rng = random.Random(args.seed * 1000 + index)
        while time.perf_counter() < deadline:
            kind = args.kind if args.kind != "mixed" else rng.choice(["chat", "chat-stream", "completion", "completion-stream"])
            prompt = rng.choice(PROMPTS)
            body = {"model": args.model, "max_tokens": args.max_tokens, "temperature": args.temperature, "seed": rng.randrange(1 << 30)}
            for field in ("top_k", "top_p", "min_p"):
                if getattr(args, field) is not None:
                    body[field] = getattr(args, field)
            if kind.startswith("chat"):
                url = args.base_url + "/chat/completions"
                body["messages"] = [{"role": "user", "content": prompt}]
            else:
                url = args.base_url + "/completions"
                body["prompt"] = prompt
            streamed = kind.endswith("stream")
            if streamed:
                body["stream"] = True
                body["stream_options"] = {"include_usage": True}
            try:
                leave = rng.randrange(1, 8) if streamed and rng.random() < args.disconnect_fraction else None
                if args.client == "openai":
                    outcome = await openai_request(official, kind, body, leave)
                elif streamed:
                    outcome = await one_stream(http, url, headers, body, kind.split("-")[0], leave)
                else:
                    outcome = await one_whole(http, url, headers, body, kind.split("-")[0])
                if outcome is None:
                    disconnects += 1
                    continue
                end = time.perf_counter()
                if end <= deadline:
                    results.append(outcome)
            except Exception as error:  # every failed request is reported
                failures.append(f"{kind}: {error!r}")

    async with httpx.AsyncClient(timeout=args.timeout, limits=limits) as http:
        official = openai.AsyncOpenAI(base_url=args.base_url, api_key=args.api_key, max_retries=0, timeout=args.timeout,
                                      http_client=http)
        await asyncio.gather(*(client(i, http) for i in range(args.clients)))
    elapsed = min(time.perf_counter(), deadline) - started
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    machine = machine_busy_seconds() - machine_before
    server = process_seconds(args.server_pid) - server_before if args.server_pid else None
    tokens = sum(r[0] for r in results)
    ttfts = [r[1] for r in results if r[1] is not None]
    per_tokens = [r[4] for r in results if r[4] is not None]
    report = {
        "clients": args.clients, "seconds": round(elapsed, 1), "requests": len(results), "failed": len(failures),
        "disconnected_on_purpose": disconnects, "tokens": tokens, "tokens_per_s": round(tokens / elapsed, 1),
        "ttft_p50_ms": round(percentile(ttfts, 50) * 1000, 1), "ttft_p99_ms": round(percentile(ttfts, 99) * 1000, 1),
        "tpot_p50_ms": round(percentile(per_tokens, 50) * 1000, 2), "tpot_p99_ms": round(percentile(per_tokens, 99) * 1000, 2),
        "client_cpu_s": round((usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime), 1),
        "machine_cpu_s": round(machine, 1),
        "finish": {f: sum(1 for r in results if r[3] == f) for f in ("stop", "length")},
    }
    if server is not None:
        report["server_cpu_s"] = round(server, 1)
        # What neither the server nor this client used: other work sharing the machine.
        report["other_cpu_s"] = round(machine - server - report["client_cpu_s"], 1)
    if args.label:
        report["label"] = args.label
    print(json.dumps(report))
    for failure in failures[:10]:
        print(f"  failed: {failure}", file=sys.stderr)
    if failures and not args.allow_failures:
        fail(f"{len(failures)} of {len(failures) + len(results)} requests failed")


# ---------------------------------------------------------------- same


async def same(args):
    """A greedy chat request and a greedy completion, each alone and then among 15 others
    (sampled, of other lengths) sent at once: the texts must match. With --generate-text, the
    completion must also be what `swiftlet generate --temperature 0` printed for the same prompt."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key != "none" else {}
    chat = {"model": args.model, "messages": [{"role": "user", "content": "What is the matter, my lord?"}],
            "max_tokens": args.max_tokens, "temperature": 0}
    completion = {"model": args.model, "prompt": args.prompt, "max_tokens": args.max_tokens, "temperature": 0}

    def text(answer, kind):
        choice = answer.json()["choices"][0]
        return choice["message"]["content"] if kind == "chat" else choice["text"]

    report = {}
    async with httpx.AsyncClient(timeout=args.timeout) as http:
        for kind, target in (("chat", chat), ("completion", completion)):
            url = args.base_url + ("/chat/completions" if kind == "chat" else "/completions")
            alone = text(await http.post(url, json=target, headers=headers), kind)
            others = [{"model": args.model, "max_tokens": 16 + 9 * i, "temperature": 0.8, "seed": i,
                       **({"messages": [{"role": "user", "content": PROMPTS[i]}]} if kind == "chat" else {"prompt": PROMPTS[i]})}
                      for i in range(15)]
            bodies = others[:7] + [target] + others[7:]
            answers = await asyncio.gather(*(http.post(url, json=b, headers=headers) for b in bodies))
            together = text(answers[7], kind)
            expect(alone == together, f"{kind}: alone {alone!r} != among 15 others {together!r}")
            report[f"{kind}_same_alone_and_among_15"] = True
            if kind == "completion" and args.generate_text:
                printed = open(args.generate_text, encoding="utf-8").read()
                # `swiftlet generate` prints the prompt, the reply, then a newline.
                expect(printed.startswith(args.prompt) and printed.endswith("\n"), f"unexpected generate output {printed[:200]!r}")
                cli = printed[len(args.prompt):-1]
                expect(cli == alone, f"swiftlet generate printed {cli!r}, the server answered {alone!r}")
                report["completion_same_as_swiftlet_generate"] = True
            report[f"{kind}_text"] = alone[:60]
    print(json.dumps({"tokens": args.max_tokens, **report}))


# ---------------------------------------------------------------- idle


def idle(args):
    root = args.base_url.rsplit("/v1", 1)[0]
    request = urllib.request.Request(root + "/metrics")
    if args.api_key != "none":
        request.add_header("Authorization", f"Bearer {args.api_key}")
    values = {}
    for _ in range(50):
        text = urllib.request.urlopen(request, timeout=10).read().decode()
        values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")}
        if all(values.get(k, -1) == 0 for k in ("swiftlet_running_sequences", "swiftlet_kv_blocks_in_use", "swiftlet_queue_length")):
            break
        time.sleep(0.1)
    for key in ("swiftlet_running_sequences", "swiftlet_kv_blocks_in_use", "swiftlet_queue_length"):
        expect(values.get(key) == 0, f"{key} is {values.get(key)} after the load")
    print(json.dumps({"idle": True, "generated_tokens_total": values.get("swiftlet_generation_tokens_total")}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["check", "load", "same", "idle"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--api-key", default="none")
    parser.add_argument("--model", required=True)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--kind", default="chat-stream", choices=["chat-stream", "chat", "completion-stream", "completion", "mixed"])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--disconnect-fraction", type=float, default=0.0)
    parser.add_argument("--top-k", type=int, help="load: sent with every request when given")
    parser.add_argument("--top-p", type=float, help="load: sent with every request when given")
    parser.add_argument("--min-p", type=float, help="load: sent with every request when given")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--client", default="httpx", choices=["httpx", "openai"],
                        help="load: plain httpx (the openai client's own transport, lighter per event) or the official client")
    parser.add_argument("--server-pid", type=int, help="load: also report the server's CPU time and the rest of the machine's")
    parser.add_argument("--label")
    parser.add_argument("--prompt", default="ROMEO:", help="same: the completion's prompt")
    parser.add_argument("--generate-text", help="same: what `swiftlet generate --temperature 0` printed for --prompt")
    parser.add_argument("--allow-failures", action="store_true")
    args = parser.parse_args()
    if args.command == "check":
        check(args)
    elif args.command == "load":
        asyncio.run(load(args))
    elif args.command == "same":
        asyncio.run(same(args))
    else:
        idle(args)


if __name__ == "__main__":
    main()
