"""The one Jinja2 environment: templates hold all the wording mailbot sends.

Templates ship in mailbot/templates; a configured directory, searched first,
overrides any of them. Every template of that directory is compiled when
the environment is made, so that a fault in one is a configuration error at
start-up, naming the file and line, not a mail set aside later. Undefined
variables are errors, never blank text: such an error, at render time,
names the template file and line (TemplateFault).
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

import jinja2
from jinja2 import nodes

from mailbot.errors import ConfigError, MailbotError

_PACKAGE_LOADER = jinja2.PackageLoader("mailbot", "templates")
DIRECTORY_KEY = "templates.directory"


class TemplateFault(MailbotError):
    """A template failed while rendering a mail; the message names its file."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(
            f"template {where}: {problem}; correct the template (`mailbot"
            " render` shows a mail as it would go out)"
        )
        # The file and line, and what went wrong there (template_check.py).
        self.where = where
        self.problem = problem


# What a template's own code raises (an undefined variable, a filter given
# what it cannot take); not a database that went away under a lazy value.
_TEMPLATE_FAULTS = (
    jinja2.TemplateError,
    TypeError,
    ValueError,
    LookupError,
    AttributeError,
    ArithmeticError,
)


def environment(override_dir: Path | None = None) -> jinja2.Environment:
    """The environment, with `override_dir` (checked, every template in it
    compiled) searched before the shipped templates."""
    custom = _checked_loader(override_dir) if override_dir is not None else None
    loaders: list[jinja2.BaseLoader] = [_PACKAGE_LOADER]
    if custom is not None:
        loaders.insert(0, custom)
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if custom is not None and override_dir is not None:
        _compile_all(env, custom, override_dir)
    return env


def _checked_loader(directory: Path) -> jinja2.FileSystemLoader:
    """A loader of `directory`, which must be a folder mailbot can read."""
    if not directory.exists():
        raise ConfigError(
            DIRECTORY_KEY,
            f"{directory} does not exist: create it with the templates that"
            " override the shipped ones, or leave the key out to use the"
            " shipped templates only",
        )
    if not directory.is_dir():
        raise ConfigError(
            DIRECTORY_KEY,
            f"{directory} is not a folder: point it at the folder that holds"
            " your templates (*.txt.j2)",
        )
    try:
        os.listdir(directory)
    except OSError as exc:
        raise ConfigError(
            DIRECTORY_KEY,
            f"{directory} cannot be read ({exc.strerror}): make it readable by"
            " the user mailbot runs as",
        ) from None
    return jinja2.FileSystemLoader(str(directory))


def _compile_all(
    env: jinja2.Environment, loader: jinja2.FileSystemLoader, directory: Path
) -> None:
    """Compile every template of the directory (*.j2): a syntax error, or a
    file that cannot be read, names the file and line."""
    _check_links(directory)
    known = set(env.list_templates())
    for name in loader.list_templates():
        if not name.endswith(".j2"):
            continue
        path = directory / name
        try:
            _check_names(env, env.get_template(name), path, known)
        except jinja2.TemplateSyntaxError as exc:
            raise ConfigError(
                DIRECTORY_KEY,
                f"{path} line {exc.lineno}: {exc.message}: correct the template"
                " (Jinja2 syntax; `mailbot render` shows a mail as it would go"
                " out), or remove it to use the shipped one",
            ) from None
        except UnicodeDecodeError as exc:
            raise ConfigError(
                DIRECTORY_KEY,
                f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}):"
                " save it as UTF-8",
            ) from None
        except OSError as exc:
            raise ConfigError(
                DIRECTORY_KEY,
                f"{path} cannot be read ({exc.strerror}): make it readable by"
                " the user mailbot runs as",
            ) from None


def _check_links(directory: Path) -> None:
    """A link that leads nowhere is a configuration error: the loader passed
    over it, and the shipped template went out instead of the operator's."""
    for folder, _, files in os.walk(directory):
        for name in files:
            path = Path(folder, name)
            if path.is_symlink() and not path.exists():
                raise ConfigError(
                    DIRECTORY_KEY,
                    f"{path} is a link to {os.readlink(path)}, which does not"
                    " exist: correct the link, or remove it to use the shipped"
                    " template",
                )


# The tags that take another template: its name is fixed when it is written.
_TAKING = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def _check_names(
    env: jinja2.Environment, template: jinja2.Template, path: Path, known: set[str]
) -> None:
    """Every template `template` includes, extends or imports by a written
    name is one of `known` (one of a list; none for `ignore missing`): it
    compiled, but each mail it rendered would be set aside."""
    assert env.loader is not None
    source = env.loader.get_source(env, template.name or "")[0]
    for node in env.parse(source).find_all(_TAKING):
        assert isinstance(node, _TAKING)
        names = _written_names(node.template)
        if getattr(node, "ignore_missing", False) or not names:
            continue
        if not known.intersection(names):
            raise ConfigError(
                DIRECTORY_KEY,
                f"{path} line {node.lineno}: names {', '.join(names)}, which is"
                " no template of the folder or of mailbot's: correct the name,"
                " add the template, or remove the file to use the shipped one",
            )


def _written_names(node: nodes.Expr) -> list[str]:
    """The names a tag gives as written text; [] when one is computed."""
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (nodes.List, nodes.Tuple)):
        names = [_written_names(item) for item in node.items]
        return [n[0] for n in names] if all(names) else []
    return []


def render(env: jinja2.Environment, name: str, **context: object) -> tuple[str, str]:
    """Render template `name` into (subject, body).

    A template's first line is `Subject: ...`; the rest, after one blank
    line, is the body. A template that fails (an undefined variable, a
    filter given what it cannot take) raises TemplateFault naming its file.
    """
    template = env.get_template(name)
    try:
        text = template.render(**context)
    except _TEMPLATE_FAULTS as exc:
        where = _where(exc, template)
        raise TemplateFault(where, f"{type(exc).__name__}: {exc}") from exc
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise TemplateFault(
            f"{template.filename or name} line 1",
            "it must start with a 'Subject:' line, then a blank line, then the body",
        )
    subject = head[len("Subject:") :].strip()
    return subject, body.strip("\n") + "\n"


def _where(exc: BaseException, template: jinja2.Template) -> str:
    """The template file and line `exc` was raised in (an included one's,
    when it was there); Jinja2 puts template lines in the traceback."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.endswith(".j2"):
            return f"{frame.filename} line {frame.lineno}"
    return template.filename or template.name or "?"
