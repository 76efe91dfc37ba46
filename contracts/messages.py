"""Chat messages and the pieces they are made of: content parts, tool calls, tool choice."""

from typing import Literal

from pydantic import Field

from contracts.base import WireModel

ChatRole = Literal["user", "assistant", "system", "tool"]
ToolType = Literal["function"]


class TextChatContent(WireModel):
    type: Literal["text"]
    text: str


class ImageUrl(WireModel):
    url: str
    detail: Literal["high", "low", "auto"] | None = None


class ImageChatContent(WireModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class FunctionTool(WireModel):
    """A function call requested by the model: its name and JSON-encoded arguments."""

    name: str
    arguments: str | None = None


class ToolCall(WireModel):
    id: str
    type: ToolType
    function: FunctionTool


class ChatMessageWithToolCall(WireModel):
    content: str | list[TextChatContent | ImageChatContent] | None = None
    name: str | None = None
    tool_call_id: str | None = None
    role: ChatRole
    tool_calls: list[ToolCall] | None = None
    tool_call: FunctionTool | None = Field(default=None, json_schema_extra={"deprecated": True})


class FunctionToolChoice(WireModel):
    name: str


class ToolChoice(WireModel):
    """Forces the model to call the named function."""

    type: ToolType
    function: FunctionToolChoice


ToolChoiceValue = Literal["none"] | Literal["auto"] | Literal["required"] | ToolChoice


class ResponseFormat(WireModel):
    type: Literal["json_object"]


def message_text(message: ChatMessageWithToolCall) -> str:
    """The text of a message: its string content, or its text parts joined by newlines."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "\n".join(part.text for part in content if isinstance(part, TextChatContent))
