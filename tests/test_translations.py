"""A Dutch user never meets English: every string the code or a template marks for translation has its Dutch.

Two readers, because neither sees everything: the Python source is parsed (so a gettext call inside an f-string,
which xgettext cannot see, still counts), and Django's own makemessages reads the templates into a scratch copy of
the catalogue, which must then hold no untranslated or fuzzy entry.
"""

import ast
import gettext
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = ("config", "dealers", "leads", "routing", "followup", "reporting", "privacy")
GETTEXT_NAMES = {"_", "gettext", "gettext_lazy", "ngettext", "ngettext_lazy", "pgettext", "pgettext_lazy", "_lazy"}


def _catalog() -> dict:
    mo = ROOT / "locale" / "nl" / "LC_MESSAGES" / "django.mo"
    assert mo.exists(), "compile the translations first (scripts/test.sh does: manage.py compilemessages)"
    with mo.open("rb") as f:
        return gettext.GNUTranslations(f)._catalog


def _marked_in_python():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in GETTEXT_NAMES):
                    continue
                args = node.args[1:] if node.func.id.startswith("pgettext") else node.args
                if args and isinstance(args[0], ast.Constant) and isinstance(args[0].value, str) and args[0].value:
                    context = node.args[0].value if node.func.id.startswith("pgettext") else None
                    yield path.relative_to(ROOT), node.lineno, args[0].value, context


def test_every_string_marked_in_python_has_its_dutch():
    catalog = _catalog()
    missing = []
    for path, line, msgid, context in _marked_in_python():
        key = f"{context}\x04{msgid}" if context else msgid
        if key not in catalog and (key, 0) not in catalog:
            missing.append(f"{path}:{line}: {msgid!r}")
    assert not missing, "no Dutch for:\n" + "\n".join(sorted(set(missing)))


@pytest.mark.skipif(shutil.which("msgattrib") is None, reason="GNU gettext is installed by scripts/test.sh")
def test_every_string_marked_in_templates_has_its_dutch(tmp_path):
    work = tmp_path / "src"
    for name in (*APPS, "templates", "manage.py", "locale"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, work / name)
    subprocess.run([sys.executable, "manage.py", "makemessages", "-l", "nl", "--no-obsolete", "-v0"], cwd=work, check=True)
    po = work / "locale" / "nl" / "LC_MESSAGES" / "django.po"
    untranslated = subprocess.run(["msgattrib", "--untranslated", str(po)], capture_output=True, text=True, check=True).stdout
    fuzzy = subprocess.run(["msgattrib", "--only-fuzzy", str(po)], capture_output=True, text=True, check=True).stdout
    assert "msgid" not in untranslated, untranslated[:3000]
    assert "msgid" not in fuzzy, fuzzy[:3000]
