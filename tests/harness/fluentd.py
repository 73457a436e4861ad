"""The Triton log pipeline of charts/triton-logging, run in Python on real log lines, from the rendered config.

Fluentd cannot be installed here, so the tests run what its configuration says with the same expressions:
the text of every regular expression is read from the rendered ConfigMap's fluent.conf (the one source), compiled
with the `regex` module (it accepts Ruby's `(?<name>...)`) with Ruby's meaning of the flags, and applied with the
semantics of the Fluentd plugins that hold them:

- in_tail with a regexp `<parse>` and `emit_unmatched_lines true`: a line that does not match becomes
  {"unmatched_line": line} instead of being dropped;
- fluent-plugin-concat 2.6 `process_regexp` (lib/fluent/plugin/filter_concat.rb), ported line for line: a start
  line flushes the buffer and opens a new one, a continuous line joins the buffer, any other line flushes it and
  goes on alone, a line with nothing buffered goes on alone; what is still buffered is flushed at the timeout.
  One buffer per stream identity: the tag, and the value of `stream_identity_key` when it is set (else one buffer
  for every record of the tag, stdout and stderr mixed);
- the same plugin's `use_partial_cri_logtag` mode: P parts are buffered (per stream identity) until the F part;
  the joined record loses `partial_cri_logtag_key` and whatever field `partial_cri_stream_key` names
  (filter_stream: `merged_record.delete(@partial_cri_stream_key)`);
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


# --- in_tail's path: Ruby's Dir.glob ------------------------------------------------------------------------------


def _expand_braces(pattern: str) -> list[str]:
    """Ruby's brace expansion, nested: "a{b,c{d,e}}" -> ["ab", "acd", "ace"]. A backslash escapes the next character."""
    depth, start, index = 0, None, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth:
            depth -= 1
            if depth == 0:
                inner, alternatives, level, piece = pattern[start + 1:index], [], 0, ""
                for c in inner:
                    if c == "," and level == 0:
                        alternatives.append(piece)
                        piece = ""
                        continue
                    level += (c == "{") - (c == "}")
                    piece += c
                alternatives.append(piece)
                head, tail = pattern[:start], pattern[index + 1:]
                return [expanded for alternative in alternatives for expanded in _expand_braces(head + alternative + tail)]
        index += 1
    return [pattern]


def _glob_regex(pattern: str) -> str:
    out, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if char == "*":
            out += "[^/]*"
        elif char == "?":
            out += "[^/]"
        elif char == "[":
            end = pattern.index("]", index + 2)
            body = pattern[index + 1:end]
            if body[:1] in ("!", "^"):
                body = "^" + body[1:]
            out += "[" + body.replace("\\", "\\\\") + "]"
            index = end
        elif char == "\\":
            index += 1
            out += stdlib_re.escape(pattern[index])
        else:
            out += stdlib_re.escape(char)
        index += 1
    return out


def ruby_glob_match(path: str, pattern: str) -> bool:
    """Whether Ruby's Dir.glob(pattern) would list `path` (a file that exists): braces are alternatives (nested),
    [..] a character class ([!..] or [^..] negated), * any characters but "/", ? one. What in_tail does with a path
    under glob_policy always (fluentd lib/fluent/plugin/in_tail.rb expand_paths_raw)."""
    return any(stdlib_re.fullmatch(_glob_regex(p), path) for p in _expand_braces(pattern))


def tail_paths(source: Directive, value: str) -> list[str]:
    """The patterns an in_tail <source> watches, `value` being its path parameter once Fluentd has filled it in:
    split on path_delimiter (a comma by default). Braces need glob_policy always, which Fluentd refuses with the
    comma delimiter; without it a brace is read literally, so the path is refused here."""
    delimiter = source.params.get("path_delimiter", ",")
    if "{" in value and (source.params.get("glob_policy") != "always" or delimiter == ","):
        raise ConfigError(f"{value!r} has braces, which in_tail expands only with glob_policy always and a path_delimiter other than ','")
    return [part.strip() for part in value.split(delimiter)]


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


def label_destinations(root: Directive, label: str) -> set[str]:
    """Where the events of a <label> go: the labels its <match> directives relabel to (`@type relabel`, `@label`),
    the labels its filters' timeouts send to (concat's timeout_label), `@include`d files, and the `@type` of every
    other <match> (an output)."""
    (section,) = [d for d in root.children if d.name == "label" and d.argument == label]
    found: set[str] = set()
    for child in section.children:
        if child.name == "match":
            if child.params.get("@type") == "relabel":
                found.add(child.params["@label"])
            else:
                found.add(f"output:{child.params.get('@type')}")
        elif child.name == "filter" and "timeout_label" in child.params:
            found.add(child.params["timeout_label"])
    if "@include" in section.params:
        found.add(f"include:{section.params['@include']}")
    return found


def reachable(root: Directive, label: str) -> set[str]:
    """Every label, output type and included file the events of `label` can reach, following relabels."""
    seen: set[str] = set()
    pending = [label]
    while pending:
        for destination in label_destinations(root, pending.pop()):
            if destination not in seen:
                seen.add(destination)
                if destination.startswith("@"):
                    pending.append(destination)
    return seen


# fluent-plugin-kubernetes_metadata_filter (lib/fluent/plugin/filter_kubernetes_metadata.rb, 3.x): what it asks the
# API server for. It GETs a pod by name to fill in a record (fetch_pod_metadata: get_pod) and, unless
# skip_namespace_metadata, the pod's namespace (get_namespace); with `watch` (the default) it also lists and
# watches pods and namespaces from start-up (set_up_pod_thread, set_up_namespace_thread).
def kubernetes_metadata_access(root: Directive) -> dict[str, set[str]]:
    """{resource: verbs} the pipeline's kubernetes_metadata filter needs in the pods' namespace."""
    (meta,) = [f for f in root.find("filter") if f.params.get("@type") == "kubernetes_metadata"]
    watch = meta.params.get("watch", "true") == "true"
    watching = {"list", "watch"} if watch else set()
    access = {"pods": {"get"} | watching}
    namespaces = watching | ({"get"} if meta.params.get("skip_namespace_metadata", "false") != "true" else set())
    if namespaces:
        access["namespaces"] = namespaces
    return access


@dataclass(frozen=True)
class Pipeline:
    """The expressions of the chart's pipeline, read from its fluent.conf."""

    cri: regex.Pattern
    multiline_start: regex.Pattern
    continuous_line: regex.Pattern
    separator: str
    patterns: tuple[regex.Pattern, ...]
    types: tuple[dict[str, str], ...]
    # concat's stream_identity_key of the partial (CRI) join and of the multi-line join (None: one buffer)
    partial_identity: str | None = None
    multiline_identity: str | None = None
    # the fields the partial join deletes from the records it emits
    partial_deletes: tuple[str, ...] = ("logtag", "stream")

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
        partials = [f for f in root.find("filter") if f.params.get("@type") == "concat" and f.params.get("use_partial_cri_logtag") == "true"]
        if len(partials) != 1:
            raise ConfigError(f"expected one CRI partial concat filter, found {len(partials)}")
        (partial,) = partials
        deleted = [partial.params.get("partial_cri_stream_key", "stream")]
        if partial.params.get("keep_partial_key") != "true":
            deleted.append(partial.params["partial_cri_logtag_key"])
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
            partial_identity=partial.params.get("stream_identity_key"),
            multiline_identity=concat.params.get("stream_identity_key"),
            partial_deletes=tuple(deleted),
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

    def join_partials(self, records: list[dict]) -> list[dict]:
        """concat with use_partial_cri_logtag: P parts are buffered (per stream identity) until the F part; the
        joined record is the current record merged with the first part's fields and the joined text, less the
        fields the filter deletes."""
        out: list[dict] = []
        buffers: dict[object, list[dict]] = {}
        for record in records:
            if "log" not in record:
                out.append(record)
                continue
            buffer = buffers.setdefault(record.get(self.partial_identity) if self.partial_identity else None, [])
            buffer.append(record)
            if record["logtag"] == "F":
                joined = {**record, **buffer[0], "log": "".join(r["log"] for r in buffer)}
                out.append({k: v for k, v in joined.items() if k not in self.partial_deletes})
                buffer.clear()
        return out

    def join_multiline(self, records: list[dict]) -> list[dict]:
        """fluent-plugin-concat process_regexp with multiline_start_regexp and continuous_line_regexp, then the
        timeout flush of whatever is left."""
        out: list[dict] = []
        buffers: dict[object, list[dict]] = {}

        def flush(buffer: list[dict]) -> None:
            if buffer:
                out.append({**buffer[0], "log": self.separator.join(r["log"] for r in buffer)})
                buffer.clear()

        for record in records:
            if "log" not in record:
                out.append(record)  # no `key`: the filter passes it on untouched
                continue
            buffer = buffers.setdefault(record.get(self.multiline_identity) if self.multiline_identity else None, [])
            text = record["log"]
            if self.multiline_start.search(text):
                flush(buffer)
                buffer.append(record)
            elif not buffer:
                out.append(record)
            elif self.continuous_line.search(text):
                buffer.append(record)
            else:
                flush(buffer)
                out.append(record)
        for buffer in buffers.values():
            flush(buffer)  # flush_interval passes with nothing new: the timeout label gets the rest
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

