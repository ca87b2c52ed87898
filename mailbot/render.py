"""The one Jinja2 environment: templates hold all the wording mailbot sends.

Templates ship in mailbot/templates; a configured directory, searched first,
overrides any of them. Undefined variables are errors, never blank text.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

_PACKAGE_LOADER = jinja2.PackageLoader("mailbot", "templates")


def environment(override_dir: Path | None = None) -> jinja2.Environment:
    loaders: list[jinja2.BaseLoader] = []
    if override_dir is not None:
        loaders.append(jinja2.FileSystemLoader(str(override_dir)))
    loaders.append(_PACKAGE_LOADER)
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(env: jinja2.Environment, name: str, **context: object) -> tuple[str, str]:
    """Render template `name` into (subject, body).

    A template's first line is `Subject: ...`; the rest, after one blank
    line, is the body.
    """
    text = env.get_template(name).render(**context)
    head, _, body = text.partition("\n\n")
    if not head.startswith("Subject:"):
        raise ValueError(f"template {name} must start with a 'Subject:' line")
    subject = head[len("Subject:") :].strip()
    return subject, body.strip("\n") + "\n"
