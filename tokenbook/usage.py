"""The command line's frame in Japanese: help pages and usage errors (design §11).

Typer's own help (rich panels) and the click it carries print their frame in English (`Usage`,
`Options`, `Show this message and exit.`, `Error: No such option …`) and cut long descriptions
with `…`. So tokenbook owns both ends instead of patching strings: `Command` and `Group` render
every help page from the command's parameters, and `explain` turns every kind of usage error
click raises (one class each: unknown option, missing or bad value, option misuse, plus the
plain ones raised for commands and extra arguments) into Japanese lines naming the command's
real options. Help text is laid out by display width (a kanji is two columns) and wrapped, never
cut.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Iterable, Sequence

from rich.cells import cell_len
from typer.core import TyperCommand, TyperGroup

try:  # typer ≥ 0.2x carries its own copy of click; earlier ones use the click package
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import exceptions as click_errors

UsageError = click_errors.UsageError
NoArgsIsHelp = click_errors.NoArgsIsHelpError
HELP_TEXT = "この説明を表示して終わります"
MAX_WIDTH = 80


def width() -> int:
    """The terminal's width (COLUMNS when set), at most 80 and at least 40."""
    return max(40, min(shutil.get_terminal_size((MAX_WIDTH, 24)).columns, MAX_WIDTH))


# --- help pages ----------------------------------------------------------------------------------

class _Located:
    """Every usage error knows its command: click's parser raises some without a context."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except UsageError as error:
            if error.ctx is None:
                error.ctx, error.cmd = ctx, ctx.command
            raise


class Command(_Located, TyperCommand):
    """A command whose --help is tokenbook's Japanese page."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(command_help(self, ctx) + "\n")


class Group(_Located, TyperGroup):
    """The `tokenbook` group: its --help lists every command with its short help."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        formatter.write(group_help(self, ctx) + "\n")


def command_help(command: Any, ctx: Any) -> str:
    params = command.get_params(ctx)
    arguments = [p for p in params if p.param_type_name == "argument"]
    options = [p for p in params if p.param_type_name == "option"]
    blocks = [usage_line(command, ctx), _paragraph(command.help or "")]
    if arguments:
        blocks.append(_section("引数", [(p.metavar or p.name, _describe(p)) for p in arguments]))
    blocks.append(_section("オプション", [(_option_label(p), _describe(p, ctx)) for p in options]))
    blocks.append(_paragraph(command.epilog or ""))
    return "\n\n".join(b for b in blocks if b)


def group_help(group: Any, ctx: Any) -> str:
    commands = [(name, group.get_command(ctx, name)) for name in group.list_commands(ctx)]
    rows = [(name, c.short_help or _first_sentence(c.help or "")) for name, c in commands if c and not c.hidden]
    options = [(_option_label(p), _describe(p, ctx)) for p in group.get_params(ctx)]
    return "\n\n".join([
        usage_line(group, ctx), _paragraph(group.help or ""), _section("コマンド", rows),
        _section("オプション", options), _paragraph(f"コマンドごとの説明: {ctx.command_path} コマンド --help"),
    ])


def usage_line(command: Any, ctx: Any) -> str:
    if isinstance(command, TyperGroup):
        return f"使い方: {ctx.command_path} コマンド [オプション]"
    words = [ctx.command_path]
    for p in command.get_params(ctx):
        if p.param_type_name == "argument":
            words.append(p.metavar or p.name)
        elif p.required:
            words.append(_option_label(p))
    return "使い方: " + " ".join(words + ["[オプション]"])


def _option_label(param: Any) -> str:
    names = ", ".join([*param.opts, *param.secondary_opts])
    if getattr(param, "is_flag", False) or param.name == "help":
        return names
    return f"{names} {param.metavar or '値'}"


def _describe(param: Any, ctx: Any = None) -> str:
    if param.name == "help" and param.param_type_name == "option":
        return HELP_TEXT
    text = param.help or ""
    notes = []
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None or high is not None:
        notes.append(f"{'' if low is None else f'{low:,}'}〜{'' if high is None else f'{high:,}'}")
    default = param.default
    if param.required:
        notes.append("必須")
    elif default is not None and not isinstance(default, bool) and not callable(default):
        notes.append(f"既定: {default}")
    return text + (f"［{'、'.join(notes)}］" if notes else "")


def _first_sentence(text: str) -> str:
    return text.split("。")[0] + "。" if "。" in text else text


# Japanese line breaking (kinsoku): these never begin a line, those never end one.
_NO_START = set("。、，．・：；？！）」』］】〉》〕ー…ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮ,.:;?!)]}%")
_NO_END = set("（「『［【〈《〔([{")
_UNITS = re.compile(r"[!-~]+| +|.", re.DOTALL)  # an ASCII word, a run of spaces, or one other character


def wrap(text: str, limit: int) -> list[str]:
    """Lines of at most `limit` display columns: broken between kanji or at spaces, never inside an
    ASCII word that fits a line, and never with 。、） at the start or （ at the end of a line.

    >>> wrap("発送確定: バッチの発送予定を発送済にします。", 20)
    ['発送確定: バッチの発', '送予定を発送済にしま', 'す。']
    >>> wrap("エラーがあれば終了コード 1）。", 14)
    ['エラーがあれば', '終了コード', '1）。']
    """
    lines: list[list[str]] = [[]]
    used = 0
    for unit in _UNITS.findall(" ".join(text.split())):
        size = cell_len(unit)
        if unit.isspace():
            if lines[-1]:
                lines[-1].append(unit)
                used += size
            continue
        if used + size > limit and lines[-1]:
            carried: list[str] = []
            line = lines[-1]
            while line and line[-1].isspace():
                line.pop()
            # Move what may not stay: a character that may not end a line, or the one before 。、）.
            while len(line) > 1 and (line[-1] in _NO_END or (carried[0] if carried else unit)[0] in _NO_START):
                carried.insert(0, line.pop())
            while line and line[-1].isspace():
                line.pop()
            lines.append(carried)
            used = sum(cell_len(u) for u in carried)
        while size > limit:  # a word longer than a line: cut it
            head, rest = _cut(unit, limit - used)
            lines[-1].append(head)
            lines.append([])
            unit, size, used = rest, cell_len(rest), 0
        lines[-1].append(unit)
        used += size
    return ["".join(line).rstrip() for line in lines if line]


def _cut(word: str, room: int) -> tuple[str, str]:
    for index in range(len(word), 0, -1):
        if cell_len(word[:index]) <= room:
            return word[:index], word[index:]
    return word[:1], word[1:]


def _paragraph(text: str) -> str:
    return "\n".join(wrap(text, width()))


def _section(title: str, rows: Iterable[tuple[str, str]]) -> str:
    rows = list(rows)
    names = max((cell_len(name) for name, _ in rows), default=0)
    room = width() - 2 - names - 2
    lines = [f"{title}:"]
    for name, text in rows:
        parts = wrap(text, room) or [""]
        lines.append(f"  {name}{' ' * (names - cell_len(name))}  {parts[0]}".rstrip())
        lines += [" " * (names + 4) + part for part in parts[1:]]
    return "\n".join(lines)


# --- usage errors ----------------------------------------------------------------------------------

_NO_SUCH_COMMAND = re.compile(r"No such command '(.*)'\.")
_EXTRA_ARGUMENTS = re.compile(r"Got unexpected extra arguments?(?:\(s\))? \((.*)\)")


def explain(error: Exception, argv: Sequence[str]) -> list[str]:
    """Japanese lines for a usage error: what is wrong, with the real options or commands, and where
    to read more. `argv` is what was typed (to show the value that was refused)."""
    ctx = getattr(error, "ctx", None)
    lines = [f"エラー: {_what(error, ctx, argv)}"]
    if ctx is not None:
        lines.append(usage_line(ctx.command, ctx))
        lines.append(f"説明は「{ctx.command_path} --help」で表示します。")
    else:
        lines.append("説明は「tokenbook --help」（コマンドごとには「tokenbook コマンド --help」）で表示します。")
    return [part for line in lines for part in wrap(line, width())]


def _what(error: Exception, ctx: Any, argv: Sequence[str]) -> str:
    if isinstance(error, click_errors.NoSuchOption):
        names = _option_names(ctx)
        guess = f"もしかして {'、'.join(sorted(error.possibilities))} ですか。" if error.possibilities else ""
        listed = f"使えるオプションは {', '.join(names)} です。" if names else ""
        return f"オプション {error.option_name} はありません。{guess}{listed}"
    if isinstance(error, click_errors.MissingParameter):
        param = error.param
        if param is None:
            return "必要な指定がありません。"
        if param.param_type_name == "argument":
            return f"{param.metavar or param.name}を指定してください: {param.help or ''}".rstrip(": ")
        return f"{param.opts[0]} を指定してください: {param.help or ''}".rstrip(": ")
    if isinstance(error, click_errors.BadParameter):
        param = error.param
        name = param.opts[0] if param is not None and param.opts else (param.name if param is not None else "値")
        typed = _typed_value(argv, param.opts if param is not None else ())
        shown = f" {typed!r} " if typed is not None else ""
        return f"{name} の値{shown}は使えません。{_expected(param)}"
    if isinstance(error, click_errors.BadOptionUsage):
        param = _param_named(ctx, error.option_name)
        if param is not None and getattr(param, "is_flag", False):
            return f"{error.option_name} は値を取りません（{error.option_name} だけを書きます）。"
        metavar = getattr(param, "metavar", None) or "値"
        return f"{error.option_name} の後に{metavar}を書いてください。"
    message = getattr(error, "message", str(error))
    if match := _NO_SUCH_COMMAND.fullmatch(message):
        return f"コマンド {match[1]} はありません。使えるコマンドは {', '.join(_command_names(ctx))} です。"
    if message == "Missing command.":
        return f"コマンドを指定してください。使えるコマンドは {', '.join(_command_names(ctx))} です。"
    if match := _EXTRA_ARGUMENTS.fullmatch(message):
        return f"余分な引数があります: {match[1]}（オプションは --名前 の形で書きます）"
    if isinstance(error, click_errors.BadArgumentUsage):
        return "引数の数が正しくありません。"
    return "コマンドの指定が正しくありません。"


def _option_names(ctx: Any) -> list[str]:
    if ctx is None:
        return []
    return [name for p in ctx.command.get_params(ctx) if p.param_type_name == "option"
            for name in (*p.opts, *p.secondary_opts)]


def _command_names(ctx: Any) -> list[str]:
    command = getattr(ctx, "command", None)
    return list(command.list_commands(ctx)) if command is not None and hasattr(command, "list_commands") else []


def _param_named(ctx: Any, option: str) -> Any:
    if ctx is None:
        return None
    return next((p for p in ctx.command.get_params(ctx) if option in (*p.opts, *p.secondary_opts)), None)


def _typed_value(argv: Sequence[str], opts: Sequence[str]) -> str | None:
    """The value given for one of `opts` in `argv` (`--banks x` or `--banks=x`), the last one wins."""
    found = None
    for index, word in enumerate(argv):
        for opt in opts:
            if word == opt and index + 1 < len(argv):
                found = argv[index + 1]
            elif word.startswith(opt + "="):
                found = word[len(opt) + 1:]
    return found


def _expected(param: Any) -> str:
    if param is None:
        return ""
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if isinstance(param.default, int) and not isinstance(param.default, bool):
        if low is not None and high is not None:
            return f"{low}〜{high} の整数を指定してください。"
        if low is not None:
            return f"{low} 以上の整数を指定してください。"
        return "整数を指定してください。"
    if isinstance(param.default, Path):
        return "ファイルやフォルダのパスを指定してください。"
    return "正しい値を指定してください。"
