"""The Triton log pipeline of charts/triton-logging, run in Python on real log lines, from the rendered config.

Fluentd cannot be installed here, so the tests run what its configuration says with the same expressions:
the text of every regular expression is read from the rendered ConfigMap's fluent.conf (the one source), compiled
with the `regex` module (it accepts Ruby's `(?<name>...)`) with Ruby's meaning of the flags, and applied with the
semantics of the Fluentd plugins that hold them:

- in_tail with a regexp `<parse>` and `emit_unmatched_lines true`: a line that does not match becomes
  {"unmatched_line": line} instead of being dropped;
- fluent-plugin-concat 2.6 `process_regexp` (lib/fluent/plugin/filter_concat.rb), ported line for line: a start
  line flushes the buffer and opens a new one, a continuous line joins the buffer, any other line flushes it and
  goes on alone, a line with nothing buffered goes on alone; what is still buffered is flushed at the timeout;
- filter_parser with `reserve_data`, `remove_key_name_field`, `emit_invalid_record_to_error false` and the
  multi_format parser (fluent-plugin-multi-format-parser): the first pattern that matches wins; no match keeps
  the record as it was.

Ruby (Onigmo) and Python's `regex` differ in a few spellings; an expression that uses one is refused rather than
silently read differently: `\\h`/`\\H` (hex digit in Ruby, horizontal space elsewhere), `\\z`/`\\Z`, inline flag
groups like `(?m)` (Ruby's m is Python's DOTALL), `\\R`, `\\X`, `\\K`, `\\G`, `\\p{...}` and POSIX brackets. In Ruby `^`
and `$` always match at line boundaries, so MULTILINE is always on; Ruby's `/m` option is Python's DOTALL.
"""

from __future__ import annotations

import re as stdlib_re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Iterable

import regex

# Spellings whose meaning differs between Onigmo and Python's regex module (see the module docstring).
_DIVERGENT = stdlib_re.compile(r"\\[hHzZRXKG]|\\[pP]\{|\(\?[imsx-]+[:)]|\[\[:")
_FLAGS = {"m": regex.DOTALL, "i": regex.IGNORECASE, "x": regex.VERBOSE}


class ConfigError(ValueError):
    """The configuration does not hold what the pipeline needs, or holds an expression that cannot be read the same."""


def ruby_regex(literal: str, *, options_allowed: bool = True) -> regex.Pattern:
    """A Fluentd regexp value, `/pattern/options`, compiled as Ruby reads it."""
    match = stdlib_re.fullmatch(r"/(.*)/([imx]*)", literal, flags=stdlib_re.DOTALL)
    if not match:
        raise ConfigError(f"{literal!r} is not a /pattern/ regexp literal")
    pattern, options = match.groups()
    if options and not options_allowed:
        raise ConfigError(f"{literal!r}: this parameter takes /pattern/ only (fluent-plugin-concat strips the first and last character)")
    divergent = _DIVERGENT.findall(pattern)
    if divergent:
        raise ConfigError(f"{literal!r} uses {divergent}, which Ruby reads differently from Python's regex module")
    flags = regex.MULTILINE | regex.VERSION0
    for option in options:
        flags |= _FLAGS[option]
    return regex.compile(pattern, flags)


# --- the configuration ------------------------------------------------------------------------------------------


@dataclass
class Directive:
    name: str
    argument: str
    params: dict[str, str] = field(default_factory=dict)
    children: list["Directive"] = field(default_factory=list)

    def find(self, name: str, **params: str) -> list["Directive"]:
        """Directives of this name anywhere below, whose params include `params`."""
        found = []
        for child in self.children:
            if child.name == name and all(child.params.get(k) == v for k, v in params.items()):
                found.append(child)
            found += child.find(name, **params)
        return found


def parse_config(text: str) -> Directive:
    """Fluentd's v1 configuration syntax as far as the chart uses it: <section argument> ... </section>, `key value`
    parameters (a value may be "quoted"), comments, @include kept as a parameter."""
    root = Directive("ROOT", "")
    stack = [root]
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        opening = stdlib_re.fullmatch(r"<([a-zA-Z_@]+)\s*([^>]*)>", line)
        closing = stdlib_re.fullmatch(r"</([a-zA-Z_@]+)>", line)
        if opening:
            directive = Directive(opening.group(1), opening.group(2).strip())
            stack[-1].children.append(directive)
            stack.append(directive)
        elif closing:
            if stack[-1].name != closing.group(1):
                raise ConfigError(f"line {number}: </{closing.group(1)}> closes <{stack[-1].name}>")
            stack.pop()
        else:
            key, _, value = line.partition(" ")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1].encode().decode("unicode_escape")
            stack[-1].params[key] = value
    if len(stack) != 1:
        raise ConfigError(f"<{stack[-1].name}> is never closed")
    return root


@dataclass(frozen=True)
class Pipeline:
    """The expressions of the chart's pipeline, read from its fluent.conf."""

    cri: regex.Pattern
    multiline_start: regex.Pattern
    continuous_line: regex.Pattern
    separator: str
    patterns: tuple[regex.Pattern, ...]
    types: tuple[dict[str, str], ...]

    @classmethod
    def from_config(cls, text: str) -> "Pipeline":
        root = parse_config(text)
        sources = [s for s in root.find("source") if s.params.get("@type") == "tail"]
        if len(sources) != 1:
            raise ConfigError(f"expected one tail source, found {len(sources)}")
        (tail,) = sources
        if tail.params.get("emit_unmatched_lines") != "true":
            raise ConfigError("the tail source drops lines it cannot parse (emit_unmatched_lines is not true)")
        (cri_parse,) = tail.find("parse")
        multiline = [f for f in root.find("filter") if f.params.get("@type") == "concat" and "multiline_start_regexp" in f.params]
        if len(multiline) != 1:
            raise ConfigError(f"expected one multi-line concat filter, found {len(multiline)}")
        (concat,) = multiline
        if "timeout_label" not in concat.params:
            raise ConfigError("the multi-line concat filter has no timeout_label: records flushed at its timeout become error events")
        parsers = [f for f in root.find("filter") if f.params.get("@type") == "parser"]
        if len(parsers) != 1:
            raise ConfigError(f"expected one parser filter, found {len(parsers)}")
        (parser,) = parsers
        expected = {"reserve_data": "true", "remove_key_name_field": "true", "emit_invalid_record_to_error": "false", "key_name": "log"}
        wrong = {k: parser.params.get(k) for k, v in expected.items() if parser.params.get(k) != v}
        if wrong:
            raise ConfigError(f"the parser filter would drop or divert records it cannot parse: {wrong}")
        (parse,) = parser.find("parse")
        if parse.params.get("@type") != "multi_format":
            raise ConfigError("the parser filter's <parse> is not multi_format")
        patterns = parse.find("pattern")
        return cls(
            cri=ruby_regex(cri_parse.params["expression"]),
            multiline_start=ruby_regex(concat.params["multiline_start_regexp"], options_allowed=False),
            continuous_line=ruby_regex(concat.params["continuous_line_regexp"], options_allowed=False),
            separator=concat.params.get("separator", "\n"),
            patterns=tuple(ruby_regex(p.params["expression"]) for p in patterns),
            types=tuple(dict(item.split(":") for item in p.params.get("types", "").split(",") if item) for p in patterns),
        )

    # --- what each stage does -----------------------------------------------------------------------------------

    def tail(self, file_lines: Iterable[str]) -> list[dict]:
        """in_tail: each line of the kubelet's file parsed as a CRI line (its time becomes the event's time, not a
        field: time_key, keep_time_key false), or kept as unmatched_line."""
        records = []
        for line in file_lines:
            match = self.cri.search(line)
            if match:
                records.append({k: v for k, v in match.groupdict().items() if v is not None and k != "time"})
            else:
                records.append({"unmatched_line": line})
        return records

    @staticmethod
    def join_partials(records: list[dict]) -> list[dict]:
        """concat with use_partial_cri_logtag: P parts are buffered until the F part; logtag and stream removed."""
        out, buffer = [], []
        for record in records:
            if "log" not in record:
                out.append(record)
                continue
            buffer.append(record)
            if record["logtag"] == "F":
                joined = {k: v for k, v in buffer[0].items() if k not in ("logtag", "stream")}
                joined["log"] = "".join(r["log"] for r in buffer)
                out.append(joined)
                buffer = []
        return out

    def join_multiline(self, records: list[dict]) -> list[dict]:
        """fluent-plugin-concat process_regexp with multiline_start_regexp and continuous_line_regexp, then the
        timeout flush of whatever is left."""
        out: list[dict] = []
        buffer: list[dict] = []

        def flush() -> None:
            if buffer:
                out.append({**buffer[0], "log": self.separator.join(r["log"] for r in buffer)})
                buffer.clear()

        for record in records:
            if "log" not in record:
                out.append(record)  # no `key`: the filter passes it on untouched
                continue
            text = record["log"]
            if self.multiline_start.search(text):
                flush()
                buffer.append(record)
            elif not buffer:
                out.append(record)
            elif self.continuous_line.search(text):
                buffer.append(record)
            else:
                flush()
                out.append(record)
        flush()  # flush_interval passes with nothing new: the timeout label gets the rest
        return out

    def parse(self, records: list[dict]) -> list[dict]:
        """filter_parser: the first multi_format pattern that matches `log` gives the fields (log removed, types
        applied); none matching keeps the record as it was."""
        out = []
        for record in records:
            text = record.get("log")
            fields = None
            if text is not None:
                for pattern, types in zip(self.patterns, self.types):
                    match = pattern.search(text)
                    if match:
                        fields = {k: v for k, v in match.groupdict().items() if v is not None}
                        for key, kind in types.items():
                            if key in fields and kind == "integer":
                                fields[key] = int(fields[key])
                        break
            if fields is None:
                out.append(record)
            else:
                out.append({**{k: v for k, v in record.items() if k != "log"}, **fields})
        return out

    def run(self, file_lines: Iterable[str]) -> list[dict]:
        return self.parse(self.join_multiline(self.join_partials(self.tail(file_lines))))


# --- the kubelet's side ---------------------------------------------------------------------------------------

CRI_MAX_LINE_BYTES = 16 * 1024  # containerd's default max_container_log_line_size


def cri_lines(container_output: str, stream: str = "stdout", start: datetime | None = None) -> list[str]:
    """The lines the container runtime writes to /var/log/pods/... for what a container printed: an RFC 3339 time
    with nanoseconds, the stream, F (or P for the leading parts of a line longer than the runtime's limit), the
    line. One microsecond apart, in order."""
    moment = start or datetime(2026, 11, 30, 6, 0, 0, tzinfo=timezone.utc)
    out = []
    for line in container_output.split("\n")[:-1] if container_output.endswith("\n") else container_output.split("\n"):
        parts = [line[i:i + CRI_MAX_LINE_BYTES] for i in range(0, len(line), CRI_MAX_LINE_BYTES)] or [""]
        for index, part in enumerate(parts):
            moment += timedelta(microseconds=1)
            tag = "F" if index == len(parts) - 1 else "P"
            out.append(f"{moment.strftime('%Y-%m-%dT%H:%M:%S.%f')}000Z {stream} {tag} {part}")
    return out

