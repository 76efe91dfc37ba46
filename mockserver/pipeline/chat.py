"""The chat-experiment pipeline up to the answer: parse → resolve and draw → render → generate.

`answer_chat` returns a `ChatAnswer`, from which `respond` writes the JSON body and `stream` the
events: one answer, two ways to deliver it. What depends only on the body bytes (the parsed request)
or on the body and a config (the rendered prompt) is memoised, because clients repeat requests.
"""

from __future__ import annotations

from contracts.chat import ChatExperimentRequest
from mockserver import jsonio
from mockserver.determinism import SeededFaker, make_id
from mockserver.pipeline.answer import ChatAnswer, ParsedChat, PreparedSample, RenderedPrompt, SampleAnswer, SampleWire
from mockserver.pipeline.generate import FINISH_STOP, FINISH_TOOL_CALL, Generation, generate, tool_plan
from mockserver.pipeline.limits import check_answer, check_prompt
from mockserver.pipeline.parse import check_content_type, parse_body
from mockserver.pipeline.render import render_template
from mockserver.pipeline.respond import sample_wire
from mockserver.pipeline.usage import prompt_tokens, sample_usage
from mockserver.spec.models import ScriptedAnswer
from mockserver.world.context import MockContext
from mockserver.world.memo import Memo
from mockserver.world.state import ModelConfig


# Byte estimates of memo entries for the byte budget, from lengths the values already hold (never a walk
# over them; measured against tracemalloc). A body's parsed strings are about as long as the body, and
# its bytes are the key; a prompt keeps its canonical text and the rendered messages; a sample's wire
# pieces are new dicts around strings the prompt already holds.
def _parsed_size(parsed: ParsedChat) -> int:
    return 2 * len(parsed.body)


def _prompt_size(prompt: RenderedPrompt) -> int:
    return 2 * len(prompt.key)


def _generation_size(value: tuple[Generation, dict[str, int]]) -> int:
    generation = value[0]
    return 2 * len(generation.text) + sum(len(c["function"]["arguments"]) for c in generation.tool_calls)


def _wire_size(wire: SampleWire) -> int:
    return 256 * len(wire.provider_request["messages"])


def _prepared_size(prepared: PreparedSample) -> int:
    return _wire_size(prepared.wire)  # the prompt and the generation are charged in their own tables


def parse_chat(memo: Memo, body: bytes, content_type: str | None) -> ParsedChat:
    """The validated request; equal bytes are validated once (validation is a pure function of them)."""
    check_content_type(content_type)

    def parse() -> ParsedChat:
        request = parse_body(ChatExperimentRequest, body, content_type)
        return ParsedChat(body, request, [m.model_dump(mode="json") for m in request.messages])

    return memo.get("chat-request", body, parse, _parsed_size)


def render_prompt(memo: Memo, parsed: ParsedChat, config: ModelConfig, max_bytes: int | None = None) -> RenderedPrompt:
    """The config's template filled with the inputs, then the request's messages (memoised). With
    `max_bytes`, a prompt that would be larger is refused (413) before it is rendered."""

    def render() -> RenderedPrompt:
        if max_bytes is not None:
            check_prompt(memo, parsed, config, max_bytes)
        messages = render_template(config.fields.chat_template or [], parsed.request.inputs) + parsed.messages
        return RenderedPrompt(messages, jsonio.canonical(messages).decode("utf-8"), prompt_tokens(messages))

    return memo.get("prompt", (parsed.body, config.id, config.fingerprint), render, _prompt_size)


def resolve_session(seed: int, project_id: str, request: ChatExperimentRequest) -> str | None:
    """`session_id` as given, else a stable id derived from `session_reference_id`, else none."""
    if request.session_id is not None:
        return request.session_id
    if request.session_reference_id is not None:
        return make_id("sesh", seed, project_id, request.session_reference_id)
    return None


def answer_sample(
    memo: Memo, seed: int, faker: SeededFaker, parsed: ParsedChat, config: ModelConfig, index: int,
    max_prompt_bytes: int | None = None,
) -> tuple[Generation, RenderedPrompt, dict[str, int]]:
    """One sample's answer: a pure function of seed, config, rendered messages and index (memoised)."""
    prompt = render_prompt(memo, parsed, config, max_prompt_bytes)
    request = parsed.request
    plan = tool_plan(request.tool_choice, request.tool_call, config.fields)
    json_mode = request.response_format is not None or config.fields.response_format is not None

    def compute() -> tuple[Generation, dict[str, int]]:
        generation = generate(
            seed=seed, faker=faker, config_id=config.id, config=config.fields, messages_key=prompt.key,
            last_role=prompt.messages[-1]["role"] if prompt.messages else None, index=index, plan=plan,
            json_mode=json_mode,
        )
        return generation, sample_usage(prompt.prompt_tokens, generation)

    key = (config.id, config.fingerprint, prompt.key, index, plan, json_mode)
    generation, usage = memo.get("generation", (seed, *key), compute, _generation_size)
    return generation, prompt, usage


def prepared_sample(memo: Memo, seed: int, faker: SeededFaker, parsed: ParsedChat, config: ModelConfig,
                    index: int, max_prompt_bytes: int | None = None) -> PreparedSample:
    """A generated sample's prompt, answer, usage and wire pieces, memoised as one (a repeated request
    finds them with one lookup; the prompt size check ran when they were first made)."""

    key = (seed, parsed.body, config.id, config.fingerprint, index)
    known = memo.known("sample", key)
    if known is not None:
        return known  # type: ignore[no-any-return]

    def prepare() -> PreparedSample:
        generation, prompt, usage = answer_sample(memo, seed, faker, parsed, config, index, max_prompt_bytes)
        wire = sample_wire(parsed.request, config.fields, prompt.messages, generation, usage)
        return PreparedSample(prompt, generation, usage, wire)

    return memo.get("sample", key, prepare, _prepared_size)


def scripted_sample(
    memo: Memo, seed: int, parsed: ParsedChat, config: ModelConfig, index: int, scripted: ScriptedAnswer,
    max_prompt_bytes: int | None = None,
) -> tuple[Generation, RenderedPrompt, dict[str, int]]:
    """A sample answered by a script: its text or tool calls; usage counted unless the script says."""
    prompt = render_prompt(memo, parsed, config, max_prompt_bytes)
    calls = tuple(
        {
            "id": call.id or make_id("call", seed, "scripted", parsed.body, index, position),
            "type": "function",
            "function": {
                "name": call.name,
                "arguments": call.arguments if isinstance(call.arguments, str)
                else jsonio.dumps(call.arguments).decode("utf-8"),
            },
        }
        for position, call in enumerate(scripted.tool_calls or [])
    )
    finish = scripted.finish_reason or (FINISH_TOOL_CALL if calls else FINISH_STOP)
    generation = Generation(scripted.output, finish, calls)
    usage = sample_usage(prompt.prompt_tokens, generation)
    if scripted.usage:
        usage.update(scripted.usage)
        usage["total_tokens"] = usage["prompt_tokens"] + usage["generation_tokens"]
    return generation, prompt, usage


def answer_chat(context: MockContext, parsed: ParsedChat, call: int = 0) -> ChatAnswer:
    """Everything the response says: resolve and draw, and give its samples log ids (one state transaction),
    then each sample's answer (a script's if one matches, else generated), then the logical time.

    A prompt or a JSON answer over the context's size limits is refused (413) before it is produced."""
    request = parsed.request
    state, memo, seed = context.state, context.memo, context.settings.seed
    max_prompt = context.settings.max_prompt_bytes
    target = state.start_chat(  # (`NotFound` under strict, `Conflict` with nothing to draw)
        experiment_id=request.experiment_id, project_id=request.project_id, project_name=request.project,
        strict=context.settings.strict, num_samples=request.num_samples,
    )
    log_ids = target.log_ids
    rules = context.rules
    samples = []
    prompt_bytes = []
    for index, config in enumerate(target.configs):
        script = rules.take_script(request, call, config.id) if rules.scripts else None
        if script is None:
            prepared = prepared_sample(memo, seed, context.faker, parsed, config, index, max_prompt)
            generation, prompt, usage, wire = prepared.generation, prepared.prompt, prepared.usage, prepared.wire
            chunks, script_name = None, None
        else:
            rule, scripted = script
            generation, prompt, usage = scripted_sample(memo, seed, parsed, config, index, scripted, max_prompt)
            wire = sample_wire(request, config.fields, prompt.messages, generation, usage)
            chunks = tuple(scripted.chunks) if scripted.chunks is not None else None
            script_name = rule.name
        samples.append(SampleAnswer(
            index, log_ids[index], config.id, config.fields, config.fingerprint, prompt.messages,
            generation, usage, wire, chunks, script_name,
        ))
        prompt_bytes.append(len(prompt.key))
    if not request.stream:
        check_answer(prompt_bytes, context.settings.max_answer_bytes)
    return ChatAnswer(  # (by position: request, project, experiment, session, samples, tick, timings)
        request, target.project_id, target.experiment_id, resolve_session(seed, target.project_id, request), samples,
        state.next_tick(), target.timings,
    )
