#!/usr/bin/python3
"""debian/copyright covers what the package ships: the virtualenv's distributions and bundled libraries.

Run by debian/rules on the built, pruned virtualenv (``--venv DEST``), it fails, naming each one, when

* debian/copyright is not a well-formed machine-readable file (copyright-format 1.0): a Files
  paragraph without Copyright or License, a licence short name with no text (in the paragraph or
  a standalone License paragraph), or a text that only points to /usr/share/common-licenses for
  a licence Debian does not ship there;
* a file of the virtualenv is governed by no paragraph but the catch-all ``Files: *`` (a new
  distribution, or a new file of one);
* a bundled shared library (``*.libs``/``.dylibs`` of a wheel) is governed by a paragraph whose
  pattern does not name that library (``pillow.libs/*`` would hide a new one);
* a distribution declares a licence (License-Expression, License or its classifiers) that is
  not in the License field of the paragraph governing its metadata.

``--lock debian/requirements-py3XX.txt`` also checks that every pin has a paragraph (the
distributions debian/rules removes, ``rm -rf $(SITE)/<name>-*.dist-info``, are exempt).
Standard library only: it runs with the build's /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import email.parser
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
# /usr/share/common-licenses in bookworm and trixie (base-files)
COMMON_LICENSES = {"apache-2.0", "artistic", "cc0-1.0", "gfdl-1.2", "gfdl-1.3", "gpl-1", "gpl-2", "gpl-3",
                   "lgpl-2", "lgpl-2.1", "lgpl-3", "mpl-1.1", "mpl-2.0"}
VENV = "opt/venvs/edge-alpr"
# A distribution's declared licence, as SPDX id, free-text License field or trove classifier ->
# the DEP-5 short names that satisfy it (lower case; any one of them).
DECLARED = {
    "mit": {"expat"}, "mit license": {"expat"},
    "bsd-3-clause": {"bsd-3-clause"}, "3-clause bsd license": {"bsd-3-clause"},
    "bsd license": {"bsd-2-clause", "bsd-3-clause"},
    "apache-2.0": {"apache-2.0"}, "apache 2.0": {"apache-2.0"}, "apache software license": {"apache-2.0"},
    "epl-2.0": {"epl-2.0"}, "psf-2.0": {"psf-2.0"}, "python software foundation license": {"psf-2.0"},
    "mpl-2.0": {"mpl-2.0"}, "mozilla public license 2.0 (mpl 2.0)": {"mpl-2.0"},
    "mit-cmu": {"mit-cmu"}, "historical permission notice and disclaimer (hpnd)": {"mit-cmu"},
    "0bsd": {"0bsd"}, "zlib": {"zlib"}, "cc0-1.0": {"cc0-1.0"},
}


@dataclass
class Paragraph:
    fields: dict[str, str]
    line: int
    patterns: list[str] = field(default_factory=list)
    regexes: list[re.Pattern[str]] = field(default_factory=list)

    @property
    def license_name(self) -> str:
        return self.fields.get("license", "").split("\n", 1)[0].strip()

    @property
    def license_text(self) -> str:
        parts = self.fields.get("license", "").split("\n", 1)
        return parts[1] if len(parts) > 1 else ""


def parse(text: str) -> list[Paragraph]:
    """deb822 paragraphs: field name -> value (continuation lines joined with newlines)."""
    paragraphs: list[Paragraph] = []
    fields: dict[str, str] = {}
    current = None
    start = 1
    for number, line in enumerate(text.splitlines() + [""], 1):
        if not line.strip():
            if fields:
                paragraphs.append(Paragraph(fields, start))
            fields, current = {}, None
            continue
        if not fields:
            start = number
        if line[0] in " \t":
            if current is None:
                raise ValueError(f"debian/copyright:{number}: continuation line outside a field")
            fields[current] += "\n" + line[1:]
        else:
            name, sep, value = line.partition(":")
            if not sep:
                raise ValueError(f"debian/copyright:{number}: not a field: {line!r}")
            current = name.strip().lower()
            fields[current] = value.strip()
    for paragraph in paragraphs:
        if "files" in paragraph.fields:
            paragraph.patterns = paragraph.fields["files"].split()
            paragraph.regexes = [_pattern(p) for p in paragraph.patterns]
    return paragraphs


def _pattern(glob: str) -> re.Pattern[str]:
    """copyright-format 1.0: '*' matches any characters including '/', '?' one character."""
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob) + r"\Z")


def license_names(expression: str) -> list[str]:
    """The short names of a License field's first line ('A or B, and C with X exception')."""
    names = []
    for part in re.split(r",?\s+(?:and|or)\s+|,", expression):
        part = part.strip().strip("()")
        if part:
            names.append(part)
    return names


def _base(name: str) -> str:
    return re.sub(r"\+$", "", name.split(" with ")[0].strip()).lower()


def check_format(paragraphs: list[Paragraph]) -> list[str]:
    errors = []
    if not paragraphs or not paragraphs[0].fields.get("format", "").startswith(
            "https://www.debian.org/doc/packaging-manuals/copyright-format/1.0"):
        errors.append("debian/copyright: the header paragraph has no Format: .../copyright-format/1.0/")
    standalone = {p.license_name.lower(): p for p in paragraphs[1:]
                  if "files" not in p.fields and "license" in p.fields}
    for paragraph in paragraphs[1:]:
        if "files" not in paragraph.fields:
            if "license" not in paragraph.fields:
                errors.append(f"debian/copyright:{paragraph.line}: a paragraph with neither Files nor License")
            elif not paragraph.license_text.strip():
                errors.append(f"debian/copyright:{paragraph.line}: License: {paragraph.license_name} has no text")
            continue
        for name in ("copyright", "license"):
            if not paragraph.fields.get(name, "").strip():
                errors.append(f"debian/copyright:{paragraph.line}: Files paragraph without {name.title()}")
        if paragraph.license_text.strip():
            continue  # the text is given in place
        for name in license_names(paragraph.license_name):
            if name.lower() not in standalone:
                errors.append(f"debian/copyright:{paragraph.line}: licence {name!r} has no text: add a "
                              f"'License: {name}' paragraph (or the text in place)")
    for name, paragraph in standalone.items():
        text = paragraph.license_text
        if _base(name) not in COMMON_LICENSES and "/usr/share/common-licenses" in text and len(text.splitlines()) < 12:
            errors.append(f"debian/copyright:{paragraph.line}: {paragraph.license_name} is not in "
                          "/usr/share/common-licenses: give its full text")
        if " with " in name and "exception" in name and len(text.splitlines()) < 12:
            errors.append(f"debian/copyright:{paragraph.line}: {paragraph.license_name}: give the exception's text")
    return errors


def governing(paragraphs: list[Paragraph], path: str) -> Paragraph | None:
    """The last Files paragraph with a pattern matching path (copyright-format 1.0)."""
    found = None
    for paragraph in paragraphs:
        if any(r.match(path) for r in paragraph.regexes):
            found = paragraph
    return found


def _matching_pattern(paragraph: Paragraph, path: str) -> str:
    return next(p for p, r in zip(paragraph.patterns, paragraph.regexes) if r.match(path))


def declared_licences(metadata: str) -> list[str]:
    """A distribution's declared licence terms, lower case: License-Expression's ids, else the
    License field when it is short (not a whole text or a copyright line), and the classifiers."""
    message = email.parser.Parser().parsestr(metadata, headersonly=True)
    out: list[str] = []
    expression = message.get("License-Expression")
    if expression:
        out += [t.lower() for t in re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", expression) if t.strip()]
    else:
        lic = (message.get("License") or "").strip()
        if lic and "\n" not in lic and len(lic) < 40 and not lic.lower().startswith("copyright"):
            out += [t.strip().lower() for t in re.split(r"\s+(?:AND|OR|and|or)\s+", lic)]
        for classifier in message.get_all("Classifier") or []:
            if classifier.startswith("License :: ") and classifier != "License :: OSI Approved":
                out.append(classifier.split(" :: ")[-1].lower())
    return out


def check_distribution(paragraphs: list[Paragraph], name: str, metadata_path: str, metadata: str) -> list[str]:
    """The paragraph governing a distribution's METADATA names each licence the distribution declares."""
    paragraph = governing(paragraphs, metadata_path)
    if paragraph is None or paragraph is paragraphs[1]:
        return [f"{name}: no paragraph in debian/copyright (its metadata {metadata_path})"]
    have = {_base(n) for n in license_names(paragraph.license_name)}
    errors = []
    declared = declared_licences(metadata)
    if not declared:
        errors.append(f"{name}: declares no licence the check can read (License-Expression, License, classifiers)")
    for term in declared:
        want = DECLARED.get(term)
        if want is None:
            errors.append(f"{name}: declared licence {term!r} is unknown to debian/copyright_check.py (DECLARED)")
        elif not want & have:
            errors.append(f"{name}: declares {term!r}, but debian/copyright:{paragraph.line} says "
                          f"License: {paragraph.license_name}")
    return errors


def _dist_name(dist_info: str) -> str:
    return dist_info.rsplit(".dist-info", 1)[0].rsplit("-", 1)[0]


def check_venv(paragraphs: list[Paragraph], dest: Path, prefix: str = VENV) -> tuple[list[str], dict[str, int]]:
    """Every file of the virtualenv at dest (installed as /prefix) against debian/copyright."""
    errors: list[str] = []
    catch_all = paragraphs[1] if len(paragraphs) > 1 else None
    owner: dict[str, str] = {}  # path -> distribution, from the RECORDs
    dists = libs = 0
    uncovered: dict[str, list[str]] = {}
    for site in sorted(dest.glob("lib/python3*/site-packages")):
        site_rel = site.relative_to(dest).as_posix()
        for dist_info in sorted(site.glob("*.dist-info")):
            name = _dist_name(dist_info.name)
            dists += 1
            record = dist_info / "RECORD"
            if record.exists():
                for row in record.read_text().splitlines():
                    path = os.path.normpath(f"{site_rel}/{row.split(',', 1)[0]}")
                    owner[f"{prefix}/{path}"] = name
            errors += check_distribution(paragraphs, name, f"{prefix}/{site_rel}/{dist_info.name}/METADATA",
                                         (dist_info / "METADATA").read_text(encoding="utf-8", errors="replace"))
    for root, _dirs, names in os.walk(dest):
        for file_name in names:
            full = Path(root, file_name)
            if full.is_symlink():
                continue
            path = f"{prefix}/{full.relative_to(dest).as_posix()}"
            paragraph = governing(paragraphs, path)
            lib_dir = re.search(r"/site-packages/[^/]+\.libs/|/\.dylibs/", path)
            if lib_dir:
                libs += 1
            if paragraph is None or paragraph is catch_all:
                uncovered.setdefault(owner.get(path, "(no distribution)"), []).append(path)
            elif lib_dir:
                pattern = _matching_pattern(paragraph, path)
                after = pattern.split(".libs/", 1)[-1].split(".dylibs/", 1)[-1]
                if not after.strip("*?"):
                    errors.append(f"bundled library {path}: debian/copyright:{paragraph.line} covers it only "
                                  f"by {pattern}: give it a paragraph that names it")
    for name, paths in sorted(uncovered.items()):
        shown = ", ".join(sorted(paths)[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
        errors.append(f"{name}: {len(paths)} file(s) not covered by debian/copyright: {shown}")
    return errors, {"distributions": dists, "bundled libraries": libs}


def pruned_distributions(rules: Path = HERE / "rules") -> set[str]:
    """Distributions debian/rules deletes from the venv (rm ... $(SITE)/<name>-*.dist-info)."""
    found = re.findall(r"\$\(SITE\)/([A-Za-z0-9_.-]+?)-\*\.dist-info", rules.read_text())
    return {m.lower().replace("-", "_") for m in found}


def lock_pins(lock: Path) -> dict[str, str]:
    pins = re.finditer(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", lock.read_text(), re.M)
    return {m.group(1): m.group(2) for m in pins}


def check_lock(paragraphs: list[Paragraph], lock: Path, rules: Path = HERE / "rules") -> list[str]:
    """Each pin of a lock has a paragraph governing its dist-info (as a wheel installs it)."""
    pruned = pruned_distributions(rules)
    errors = []
    for name, version in lock_pins(lock).items():
        normal = re.sub(r"[-_.]+", "_", name).lower()
        if normal in pruned:
            continue
        path = f"{VENV}/lib/python3.X/site-packages/{normal}-{version}.dist-info/METADATA"
        paragraph = governing(paragraphs, path)
        if paragraph is None or paragraph is paragraphs[1]:
            errors.append(f"{name}=={version} ({lock.name}): no paragraph in debian/copyright covers {path}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--copyright", type=Path, default=HERE / "copyright")
    parser.add_argument("--venv", type=Path, help="the built virtualenv (debian/edge-alpr/opt/venvs/edge-alpr)")
    parser.add_argument("--lock", type=Path, action="append", default=[], help="a debian/requirements-py3XX.txt")
    args = parser.parse_args(argv)
    paragraphs = parse(args.copyright.read_text())
    errors = check_format(paragraphs)
    counts: dict[str, int] = {}
    for lock in args.lock:
        errors += check_lock(paragraphs, lock)
    if args.venv:
        venv_errors, counts = check_venv(paragraphs, args.venv)
        errors += venv_errors
    for error in errors:
        print(f"debian/copyright_check.py: {error}", file=sys.stderr)
    if errors:
        print(f"debian/copyright_check.py: {len(errors)} problem(s): debian/copyright does not cover what "
              "the package ships", file=sys.stderr)
        return 1
    what = ", ".join(f"{n} {k}" for k, n in counts.items())
    print(f"debian/copyright_check.py: debian/copyright covers {what or 'the locks'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
