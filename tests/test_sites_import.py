"""`mailbot sites import FILE...`: a reviewable sites file from GOCDB XML."""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailbot.cli import main
from mailbot.sites import load_directory

SAMPLE = Path(__file__).parent / "data" / "gocdb_sample.xml"
EXISTING = """
# Kept by hand.
[[ngi]]
name = "NGI_AA"
security_contacts = ["old-ngi@ngi-aa.example.org"]

[[site]]
name = "example-alpha"
ngi = "NGI_AA"
timezone = "Europe/Rome"
country = "IT"
security_contacts = ["old@alpha.example.org"]
domains = ["alpha-old.example.org"]
networks = ["192.0.2.0/26"]
holidays = ["2026-12-24"]
working_hours = ["08:00", "16:00"]

[[site]]
name = "EXAMPLE-GAMMA"
ngi = "NGI_BB"
timezone = "Europe/London"
country = "GB"
security_contacts = ["csirt@gamma.example.org"]

[[site]]
name = "LOCAL-ONLY"
timezone = "Europe/Paris"
security_contacts = ["sec@local.example.org"]

[[vo]]
name = "vo.example.org"
security_contacts = ["vo-security@vo.example.org"]
"""


@pytest.fixture(autouse=True)
def own_logging() -> Iterator[None]:
    """main() logs to the captured stderr; take its handler away afterwards."""
    root = logging.getLogger()
    level = root.level
    yield
    root.handlers[:] = [
        h for h in root.handlers if type(h) is not logging.StreamHandler
    ]
    root.setLevel(level)


def site(data: dict, name: str) -> dict:
    return next(s for s in data["site"] if s["name"].lower() == name.lower())


def test_a_new_sites_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sites.toml"
    assert main(["sites", "import", str(SAMPLE), "--output", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "4 sites, 3 NGIs (4 sites added, 0 updated, 0 unchanged, 0 kept" in summary
    assert "review them" in summary
    text = out.read_text(encoding="utf-8")
    assert "# warning: site EXAMPLE-GAMMA: TIMEZONE 'Mars/Olympus_Mons'" in text
    directory = load_directory(out)
    alpha = directory.site("EXAMPLE-ALPHA")
    assert alpha is not None and alpha.timezone == "Europe/Rome"
    assert directory.ngi_contacts(alpha) == ("ngi-sec@ngi-aa.example.org",)
    assert not (tmp_path / "sites.toml.bak").exists()


def test_merging_into_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sites.toml"
    out.write_text(EXISTING, encoding="utf-8")
    assert main(["sites", "import", str(SAMPLE), "--output", str(out)]) == 0
    assert (
        "(2 sites added, 2 updated, 0 unchanged, 1 kept that the export does not list)"
    ) in capsys.readouterr().out
    assert (tmp_path / "sites.toml.bak").read_text(encoding="utf-8") == EXISTING
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    alpha = site(data, "EXAMPLE-ALPHA")
    # GOCDB's values win; the operator's own keys stay; domains add up.
    assert alpha["name"] == "EXAMPLE-ALPHA"
    assert alpha["security_contacts"] == ["security@alpha.example.org"]
    assert alpha["networks"] == ["192.0.2.0/26"]
    assert alpha["holidays"] == ["2026-12-24"]
    assert alpha["working_hours"] == ["08:00", "16:00"]
    assert alpha["domains"] == ["alpha-old.example.org", "alpha.example.org"]
    # A time zone GOCDB does not know does not replace a good one.
    assert site(data, "EXAMPLE-GAMMA")["timezone"] == "Europe/London"
    # What the export does not list is kept, and said so.
    assert site(data, "LOCAL-ONLY")["security_contacts"] == ["sec@local.example.org"]
    assert "# warning: site LOCAL-ONLY: not in the export, kept" in out.read_text(
        encoding="utf-8"
    )
    assert data["vo"] == [
        {"name": "vo.example.org", "security_contacts": ["vo-security@vo.example.org"]}
    ]
    ngis = {n["name"]: n["security_contacts"] for n in data["ngi"]}
    assert ngis["NGI_AA"] == ["ngi-sec@ngi-aa.example.org"]
    assert ngis["NGI_CC"] == []
    assert len(load_directory(out).sites) == 5


def test_importing_twice_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second import said "4 updated" and wrote the file (and its
    backup, the hand-written file gone) though nothing changed."""
    out = tmp_path / "sites.toml"
    out.write_text(EXISTING, encoding="utf-8")
    main(["sites", "import", str(SAMPLE), "--output", str(out)])
    first = out.read_text(encoding="utf-8")
    capsys.readouterr()
    written = out.stat().st_mtime_ns
    main(["sites", "import", str(SAMPLE), "--output", str(out)])
    assert out.read_text(encoding="utf-8") == first
    assert (
        "(0 sites added, 0 updated, 4 unchanged, 1 kept that the export does not"
        " list); the file holds that already: nothing written"
    ) in capsys.readouterr().out
    assert out.stat().st_mtime_ns == written
    assert (tmp_path / "sites.toml.bak").read_text(encoding="utf-8") == EXISTING
    assert not (tmp_path / "sites.toml.bak.1").exists()


def test_no_backup_is_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second import replaced PATH.bak: the hand-written file was gone."""
    out = tmp_path / "sites.toml"
    out.write_text(EXISTING, encoding="utf-8")
    main(["sites", "import", str(SAMPLE), "--output", str(out)])
    first = out.read_text(encoding="utf-8")
    changed = tmp_path / "changed.xml"
    changed.write_bytes(SAMPLE.read_bytes().replace(b"Europe/Rome", b"Europe/Vatican"))
    capsys.readouterr()
    main(["sites", "import", str(changed), "--output", str(out)])
    assert "(0 sites added, 1 updated, 3 unchanged, 1 kept" in (capsys.readouterr().out)
    assert (tmp_path / "sites.toml.bak").read_text(encoding="utf-8") == EXISTING
    assert (tmp_path / "sites.toml.bak.1").read_text(encoding="utf-8") == first
    assert (
        site(tomllib.loads(out.read_text(encoding="utf-8")), "EXAMPLE-ALPHA")[
            "timezone"
        ]
        == "Europe/Vatican"
    )


def test_sites_differing_by_case_and_kept_contacts_are_said(
    tmp_path: Path,
) -> None:
    """DUP and dup were folded into one site with no word said (DUP's
    contacts lost); an NGI with no NGI element was said to have no contact
    while the existing file's were kept."""
    export = tmp_path / "case.xml"
    export.write_bytes(b"""<results>
      <SITE><SHORT_NAME>DUP</SHORT_NAME><ROC>ngi_aa</ROC>
        <CSIRT_EMAIL>sec@dup-one.example.org</CSIRT_EMAIL>
        <TIMEZONE>Europe/Rome</TIMEZONE></SITE>
      <SITE><SHORT_NAME>dup</SHORT_NAME><ROC>NGI_AA</ROC>
        <CSIRT_EMAIL>sec@dup-two.example.org</CSIRT_EMAIL>
        <TIMEZONE>Europe/Rome</TIMEZONE></SITE>
      <SITE><SHORT_NAME>EXAMPLE-GAMMA</SHORT_NAME><ROC>NGI_BB</ROC>
        <TIMEZONE>Europe/London</TIMEZONE></SITE>
    </results>""")
    out = tmp_path / "sites.toml"
    out.write_text(EXISTING, encoding="utf-8")
    assert main(["sites", "import", str(export), "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert (
        "# warning: site dup: given also as DUP, the last wins (mailbot tells"
        " sites apart by name in any letter case)"
    ) in text
    assert "# warning: NGI NGI_AA: no NGI element, so no security contact" not in text
    # An NGI_AA the old file gives contacts to; NGI_BB it does not know.
    assert "# warning: NGI NGI_BB: no NGI element, so no security contact" in text
    assert (
        "# warning: site EXAMPLE-GAMMA: the export gives no usable"
        " security_contacts; kept from the sites file: csirt@gamma.example.org"
    ) in text
    data = tomllib.loads(text)
    assert site(data, "dup")["security_contacts"] == ["sec@dup-two.example.org"]
    assert [n["name"] for n in data["ngi"]] == ["NGI_AA", "NGI_BB"]
    assert load_directory(out).ngi_contacts(load_directory(out).site("DUP")) == (
        "old-ngi@ngi-aa.example.org",
    )


def test_print_instead_of_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["sites", "import", str(SAMPLE), "--output", "-"]) == 0
    assert "[[site]]" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


def _config(folder: Path, sites_file: str) -> Path:
    """A configuration in `folder` whose [sites] file is `sites_file`."""
    config = folder / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "abuse@csirt.example.org"\n'
        '[source]\nkind = "maildir"\n[smtp]\nkind = "maildir"\n'
        f'[sites]\nfile = "{sites_file}"\n',
        encoding="utf-8",
    )
    return config


def test_default_output_is_the_configured_sites_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path, "conf/sites.toml")
    assert main(["--config", str(config), "sites", "import", str(SAMPLE)]) == 0
    assert len(load_directory(tmp_path / "conf" / "sites.toml").sites) == 4
    # Without any configuration: ./sites.toml.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("MAILBOT_CONFIG", raising=False)
    assert main(["sites", "import", str(SAMPLE)]) == 0
    assert (elsewhere / "sites.toml").exists()


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (b"<results><SITE><SHORT_NAME>X</SITE></results>", "not well-formed XML"),
        # A login page was taken as an export of no site: the file was
        # rewritten from it, its comments lost and its backup replaced.
        (
            b"<html><body>GOCDB login</body></html>",
            "holds no SITE or NGI element (its root is <html>)",
        ),
    ],
)
def test_a_broken_export_writes_nothing(
    document: bytes, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sites.toml"
    out.write_text(EXISTING, encoding="utf-8")
    bad = tmp_path / "bad.xml"
    bad.write_bytes(document)
    assert main(["sites", "import", str(bad), "--output", str(out)]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and said in error
    assert out.read_text(encoding="utf-8") == EXISTING
    assert not (tmp_path / "sites.toml.bak").exists()


def test_a_broken_sites_file_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sites.toml"
    out.write_text("[[site]\nname = ", encoding="utf-8")
    assert main(["sites", "import", str(SAMPLE), "--output", str(out)]) == 2
    error = capsys.readouterr().err
    assert f"--output: {out} is not valid TOML" in error
    assert out.read_text(encoding="utf-8") == "[[site]\nname = "


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (
            "\ufeff" + EXISTING,
            "starts with a byte order mark (U+FEFF, as some Windows editors save"
            " UTF-8), which TOML does not allow: save it as UTF-8 without one",
        ),
        (
            EXISTING + "[[site]]\nname = ",
            "its last line is unfinished (a key without `= value`, a string,"
            " bracket or table header not closed)",
        ),
    ],
)
def test_a_sites_file_is_read_as_at_start_up(
    content: str, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A byte order mark was "Invalid statement (at line 1, column 1)" and
    an unfinished last line "(at end of document)", exit 1: mailbot's own
    reading of the sites file says what they are (toml_text.py)."""
    out = tmp_path / "sites.toml"
    out.write_text(content, encoding="utf-8")
    assert main(["sites", "import", str(SAMPLE), "--output", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and said in error
    assert out.read_text(encoding="utf-8") == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.toml"]


def _unreadable(tmp_path: Path, kind: str) -> Path:
    """A sites file at tmp_path/conf/sites.toml that cannot be read."""
    path = tmp_path / "conf" / "sites.toml"
    path.parent.mkdir()
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(EXISTING.encode("utf-8") + b"# caf\xe9\n")
    return path


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("folder", "Is a directory"),
        ("fifo", "not a file"),
        ("latin-1", "it is not UTF-8"),
    ],
)
def test_an_unreadable_sites_file_is_a_configuration_error(
    kind: str, reason: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The file to merge into that could not be read ended in exit 1 and
    the raw OS error ("[Errno 21] Is a directory: '...'"), a FIFO in a
    wait without end; it is the configuration error mailbot's start gives,
    of the key or option that named it, with what to do."""
    path = _unreadable(tmp_path, kind)
    config = _config(tmp_path, "conf/sites.toml")
    assert main(["--config", str(config), "sites", "import", str(SAMPLE)]) == 2
    assert capsys.readouterr().err == (
        f"mailbot: configuration error: sites.file: cannot read {path} ({reason}):"
        " make it a UTF-8 file the user mailbot runs as can read, or point"
        " sites.file at one, or give --output PATH, or --output - to print the"
        " result\n"
    )
    assert main(["sites", "import", str(SAMPLE), "--output", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"mailbot sites: --output: cannot read {path} ({reason}): make it"
        " a UTF-8 file the user mailbot runs as can read, or give another"
        " --output, or --output - to print the result\n"
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["sites.toml"]


@pytest.mark.parametrize("output", ["-", "new.toml"])
def test_a_broken_configuration_says_why_import_needs_it(
    output: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A configuration that cannot be read stops the import, printing too:
    it gives mailbot's own addresses, which an export may name as a
    contact. The error named the key but not why an import reads it."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "mailbot.toml"
    config.write_text(
        '[mailbot]\naddress = "abuse@csirt.example.org"\n[imap]\nport = "x"\n',
        encoding="utf-8",
    )
    argv = ["--config", str(config), "sites", "import", str(SAMPLE)]
    assert main([*argv, "--output", output]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "mailbot: configuration error: imap.port: must be a whole number"
        " (`sites import` needs the configuration, with --output - too: it"
        " leaves mailbot's own addresses, [mailbot] address and aliases, out"
        " of the sites file; correct it first)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mailbot.toml"]


def test_a_missing_export_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "none.xml"
    out = tmp_path / "sites.toml"
    assert main(["sites", "import", str(missing), "--output", str(out)]) == 2
    assert f"FILE: cannot read {missing}" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize("output", ["/proc/sites.toml", "/proc/no-such/sites.toml"])
def test_an_output_that_cannot_be_written_is_named(
    output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """It ended in a FileNotFoundError naming a temporary file
    (/proc/.sites.toml.XXXX), not the path asked for, and no advice."""
    assert main(["sites", "import", str(SAMPLE), "--output", output]) == 2
    err = capsys.readouterr().err
    parent = str(Path(output).parent)
    assert (
        f"--output: cannot write {output} (No such file or directory): give a path"
        " in a folder the user mailbot runs as can write files in"
        f" ({parent} is not one), or --output - to print it"
    ) in err
    assert "Traceback" not in err and f"{parent}/." not in err


def test_an_empty_path_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--output ""` merged into the configured sites file, as if it were
    left out; an empty FILE read the current folder."""
    config = _config(tmp_path, "sites.toml")
    live = tmp_path / "sites.toml"
    live.write_text(EXISTING, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    argv = ["--config", str(config), "sites", "import"]
    assert main([*argv, str(SAMPLE), "--output", ""]) == 2
    assert "--output: is empty: give the sites file's path" in capsys.readouterr().err
    assert main([*argv, "", "--output", "-"]) == 2
    assert "FILE: is empty: give the path of a GOCDB XML export" in (
        capsys.readouterr().err
    )
    assert live.read_text(encoding="utf-8") == EXISTING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mailbot.toml", "sites.toml"]


OWN_CONFIG = (
    '[mailbot]\naddress = "abuse@csirt.example.org"\n'
    'aliases = ["cert@egi.example"]\n'
    '[source]\nkind = "maildir"\n[smtp]\nkind = "maildir"\n'
)
OWN_EXPORT = b"""<results>
  <SITE NAME="OWN-SITE"><SHORT_NAME>OWN-SITE</SHORT_NAME><ROC>NGI_OWN</ROC>
    <CSIRT_EMAIL>Abuse@csirt.example.org, sec@own.example.org</CSIRT_EMAIL>
    <TIMEZONE>Europe/Paris</TIMEZONE>
    <DOMAIN><DOMAIN_NAME>egi.example</DOMAIN_NAME></DOMAIN></SITE>
  <NGI><NAME>NGI_OWN</NAME><SECURITY_EMAIL>cert@egi.example</SECURITY_EMAIL></NGI>
</results>"""


def test_mailbots_own_address_is_left_out_with_a_warning(tmp_path: Path) -> None:
    """An export giving mailbot's own address as a contact was written as
    it was, and mailbot then refused to start with the file (exit 2)."""
    from mailbot.config import load_settings
    from mailbot.sites import check_not_own

    config = tmp_path / "mailbot.toml"
    config.write_text(OWN_CONFIG, encoding="utf-8")
    export = tmp_path / "own.xml"
    export.write_bytes(OWN_EXPORT)
    out = tmp_path / "sites.toml"
    argv = ["--config", str(config), "sites", "import", str(export)]
    assert main([*argv, "--output", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert (
        "# warning: site OWN-SITE: 'abuse@csirt.example.org' is mailbot's own"
        " address ([mailbot] address or aliases)"
    ) in text
    assert "# warning: NGI NGI_OWN: 'cert@egi.example' is mailbot's own" in text
    assert (
        "# warning: site OWN-SITE: domain egi.example holds mailbot's own"
        " address, left out"
    ) in text
    data = tomllib.loads(text)
    assert site(data, "OWN-SITE")["security_contacts"] == ["sec@own.example.org"]
    assert site(data, "OWN-SITE")["domains"] == ["own.example.org"]
    assert data["ngi"] == [{"name": "NGI_OWN", "security_contacts": []}]
    # mailbot starts with what was written.
    check_not_own(load_directory(out), load_settings(config).own_addresses)


def test_an_own_address_the_old_file_keeps_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "mailbot.toml"
    config.write_text(OWN_CONFIG, encoding="utf-8")
    out = tmp_path / "sites.toml"
    old = EXISTING.replace("sec@local.example.org", "abuse@csirt.example.org")
    out.write_text(old, encoding="utf-8")
    argv = ["--config", str(config), "sites", "import", str(SAMPLE)]
    assert main([*argv, "--output", str(out)]) == 2
    assert (
        "site LOCAL-ONLY.security_contacts: 'abuse@csirt.example.org' is"
        " mailbot's own address"
    ) in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == old
    assert not (tmp_path / "sites.toml.bak").exists()


def test_the_file_keeps_its_mode_and_owner(tmp_path: Path) -> None:
    """The import replaced a 0644 file (the daemon reads it as another
    user) with a 0600 one mkstemp made; the owner was the importer's."""
    import os

    out = tmp_path / "sites.toml"
    out.write_text(EXISTING, encoding="utf-8")
    out.chmod(0o640)
    # As root, the file the daemon's user owns stays that user's.
    owner = (4321, 4321) if os.geteuid() == 0 else (os.geteuid(), os.getegid())
    os.chown(out, *owner)
    assert main(["sites", "import", str(SAMPLE), "--output", str(out)]) == 0
    for path in (out, tmp_path / "sites.toml.bak"):
        done = path.stat()
        assert (done.st_mode & 0o7777, done.st_uid, done.st_gid) == (0o640, *owner)
    # A new file gets the mode the umask gives, as any file written.
    new = tmp_path / "new.toml"
    umask = os.umask(0o027)
    try:
        assert main(["sites", "import", str(SAMPLE), "--output", str(new)]) == 0
    finally:
        os.umask(umask)
    assert new.stat().st_mode & 0o7777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_symbolic_link_is_written_through(tmp_path: Path) -> None:
    """--output link.toml replaced the link with a file, its target untouched."""
    real = tmp_path / "conf" / "sites.toml"
    real.parent.mkdir()
    real.write_text(EXISTING, encoding="utf-8")
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    assert main(["sites", "import", str(SAMPLE), "--output", str(link)]) == 0
    assert link.is_symlink() and link.resolve() == real
    assert len(load_directory(real).sites) == 5
    assert (real.parent / "sites.toml.bak").read_text(encoding="utf-8") == EXISTING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf", "link.toml"]


def test_an_endless_input_is_read_only_past_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sites import /dev/zero` read its input whole before the 64 MB limit
    (3.8 GB in 30 s): the limit + 1 bytes are enough to refuse it. A pipe
    that is never closed stands for the endless input here."""
    import os
    import threading

    from mailbot import gocdb

    monkeypatch.setattr(gocdb, "MAX_DOCUMENT_BYTES", 1000)
    pipe = tmp_path / "endless.xml"
    os.mkfifo(pipe)
    read = threading.Event()
    waited: list[bool] = []

    def writer() -> None:
        with pipe.open("wb") as stream:
            stream.write(b"<results>" + b" " * 2000)
            stream.flush()
            # Left open until the import is done: reading it whole waits.
            waited.append(read.wait(20))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        status = main(["sites", "import", str(pipe), "--output", "-"])
    finally:
        read.set()
        thread.join()
    assert waited == [True]
    assert status == 1
    assert f"{pipe}: the export is over 1000 bytes" in capsys.readouterr().err


def test_errors_name_the_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`sites import a.xml b.xml` said what was wrong, not with which file."""
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<results><SITE></results>")
    page = tmp_path / "page.xml"
    page.write_bytes(b"<html/>")
    for bad, said in ((broken, "not well-formed XML"), (page, "no SITE or NGI")):
        assert main(["sites", "import", str(SAMPLE), str(bad), "--output", "-"]) == 1
        err = capsys.readouterr().err
        assert f"mailbot: {bad}: the export " in err and said in err
