"""Man pages and bash completion generated from the flag table
(node/flags_doc.c): every flag `apigw help <subcommand>` lists (the help
comes from the same table) appears in apigw(1), every start/join flag in
apigw.json(5), every flag of each subcommand in the completion for it; the
pages render with `man -l` without warnings; the completion script is valid
bash and completes.
"""
import os
import re
import shutil
import subprocess

from harness import Tap, run_cli, tempdir

BUILD = os.environ.get("APIGW_BUILDDIR") or os.path.join(os.path.dirname(__file__), "..", "..")
SUBCOMMANDS = ["start", "join", "leave", "status", "token", "config"]


def flags_of(sub):
    """The flags `apigw help SUB` lists."""
    r = run_cli("help", sub)
    assert r.returncode == 0, r.stderr
    flags = re.findall(r"^  --([a-z0-9-]+)", r.stdout, re.M)
    assert flags, r.stdout
    return flags


def page(section):
    r = run_cli("help", "--man", section)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_man1_has_every_flag():
    text = page("1")
    for sub in SUBCOMMANDS:
        assert ".B %s\n" % sub in text, sub
        for f in flags_of(sub):
            assert "\\fB\\-\\-%s\\fR" % f.replace("-", "\\-") in text, (sub, f)


def test_man5_has_every_node_flag():
    text = page("5")
    for sub in ("start", "join"):
        for f in flags_of(sub):
            if f in ("config", "check", "help"):
                continue
            assert '\\fB"%s"\\fR' % f.replace("-", "\\-") in text, (sub, f)
    assert '"config"' not in text


def test_built_pages_match_the_binary():
    """The build generated the installed files from this binary."""
    for rel, args in (("packaging/apigw.1", ("help", "--man", "1")),
                      ("packaging/apigw.json.5", ("help", "--man", "5")),
                      ("packaging/completion/apigw", ("completion", "bash"))):
        with open(os.path.join(BUILD, rel)) as f:
            assert f.read() == run_cli(*args).stdout, rel


def test_man_renders():
    if shutil.which("man") is None:
        raise AssertionError("man(1) is missing (Debian package man-db)")
    d = tempdir("apigw-man-")
    for section in ("1", "5"):
        path = os.path.join(d, "apigw.%s" % section)
        with open(path, "w") as f:
            f.write(page(section))
        r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                           env=dict(os.environ, MANWIDTH="80",
                                    MANPAGER="cat", PAGER="cat"), timeout=30)
        assert r.returncode == 0, r.stderr
        assert r.stderr.strip() == "", r.stderr
        assert "SYNOPSIS" in r.stdout


def complete(script, words):
    """COMPREPLY of the generated completion for the command line @words
    (the last word is the one being completed)."""
    prog = script + "\nCOMP_WORDS=(%s)\nCOMP_CWORD=%d\n_apigw\nprintf '%%s\\n' \"${COMPREPLY[@]}\"\n" % (
        " ".join("'%s'" % w for w in words), len(words) - 1)
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_completion_has_every_flag():
    r = run_cli("completion", "bash")
    assert r.returncode == 0, r.stderr
    script = r.stdout
    assert subprocess.run(["bash", "-n", "-c", script]).returncode == 0
    subs = complete(script, ["apigw", ""])
    for sub in SUBCOMMANDS + ["backup", "restore", "completion"]:
        assert sub in subs, (sub, subs)
    for sub in SUBCOMMANDS:
        got = complete(script, ["apigw", sub, "--"])
        for f in flags_of(sub):
            assert "--" + f in got, (sub, f, got)
    assert complete(script, ["apigw", "start", "--log-level", "d"]) == ["debug"]
    assert complete(script, ["apigw", "start", "--peer-tls", "o"]) == ["on", "off"]


def test_usage_errors():
    assert run_cli("completion", "zsh").returncode == 2
    assert run_cli("help", "--man", "3").returncode == 2


tap = Tap()
tap.run(test_man1_has_every_flag)
tap.run(test_man5_has_every_node_flag)
tap.run(test_built_pages_match_the_binary)
tap.run(test_man_renders)
tap.run(test_completion_has_every_flag)
tap.run(test_usage_errors)
tap.done()
