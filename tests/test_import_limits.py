"""Import files are read in bounded memory and refused, before reading, when they hold more than a real export.

Crafted workbooks: one cell at XFD1048576 (1.6 KB; calamine's dense grid would be 17 billion
cells), one at CV1048576 (within the limits: read sparsely instead of as a 100-million-cell grid),
a zip bomb (a sheet of 1 GB of repeated cells in a few MB), and files that lie about their size
in `<dimension>`. Each is read by `rows_of` in a subprocess whose peak RSS (VmHWM) is the
measure; the limits come from app.yaml `imports:` (runtime/imports/readers.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

from specadmin.runtime.imports.readers import FileRefused, Limits, check_file, rows_of

MAX_RSS_MB = 300

CONTENT_TYPES = ('<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
                 '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                 'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/'
                 'workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+'
                 'xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
                 'officedocument.spreadsheetml.worksheet+xml"/></Types>')
ROOT_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
             '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
WORKBOOK = ('<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/'
            '2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets>'
            '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>')
BOOK_RELS = ('<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/'
             '2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
SHEET_HEAD = '<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def inline(ref: str, value: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>'


def workbook(path: Path, rows: str, dimension: str | None = None) -> Path:
    """A minimal .xlsx whose only sheet holds `rows` (the XML inside <sheetData>)."""
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", CONTENT_TYPES)
        z.writestr("_rels/.rels", ROOT_RELS)
        z.writestr("xl/workbook.xml", WORKBOOK)
        z.writestr("xl/_rels/workbook.xml.rels", BOOK_RELS)
        z.writestr("xl/worksheets/sheet1.xml", f"{SHEET_HEAD}{dim}<sheetData>{rows}</sheetData></worksheet>")
    return path


def far_cell(path: Path, ref: str, dimension: str | None) -> Path:
    row = int("".join(c for c in ref if c.isdigit()))
    return workbook(path, f'<row r="1">{inline("A1", "公共场所ID")}</row><row r="{row}">{inline(ref, "x")}</row>',
                    dimension)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """A sheet of 1 GB of repeated cells, deflated to a few MB (declared sizes honest)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.xlsx"
    workbook(path, "")
    cell = inline("A1", "1").encode()
    block = cell * ((16 << 20) // len(cell))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, text in (("[Content_Types].xml", CONTENT_TYPES), ("_rels/.rels", ROOT_RELS),
                           ("xl/workbook.xml", WORKBOOK), ("xl/_rels/workbook.xml.rels", BOOK_RELS)):
            z.writestr(name, text)
        with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            fh.write(f'{SHEET_HEAD}<sheetData><row r="1">'.encode())
            for _ in range((1 << 30) // len(block)):
                fh.write(block)
            fh.write(b"</row></sheetData></worksheet>")
    assert path.stat().st_size < 16 << 20
    return path


# Peak RSS of the reading interpreter: VmHWM of its own address space. (getrusage's ru_maxrss would do
# in a fresh shell, but Linux carries it across fork and exec, so a child of a large pytest process
# reports the parent's peak.)
READ = """
import json, sys
from pathlib import Path
from specadmin.runtime.imports.readers import Limits, rows_of
out = {"rows": 0, "refused": None, "last": None}
try:
    for number, cells in rows_of(Path(sys.argv[1]), Limits(**json.loads(sys.argv[2]))):
        out["rows"] += 1
        out["last"] = [number, len(cells)]
except ValueError as exc:
    out["refused"] = str(exc)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
out["rss_mb"] = int(status["VmHWM"].split()[0]) / 1024
print(json.dumps(out))
"""


def read_in_subprocess(path: Path, **limits) -> dict:
    """rows_of over the whole file in a fresh interpreter: its peak RSS is the reader's alone."""
    run = subprocess.run([sys.executable, "-c", READ, str(path), json.dumps(limits)], capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("dimension", ["A1:XFD1048576", None, "A1:A1"],
                         ids=["declared", "no-dimension", "lying-dimension"])
def test_one_cell_at_xfd1048576_is_refused_in_bounded_memory(tmp_path, dimension):
    path = far_cell(tmp_path / "far.xlsx", "XFD1048576", dimension)
    assert path.stat().st_size < 2048
    out = read_in_subprocess(path)
    assert out["refused"] and "XFD1048576" in out["refused"] and "1000 列" in out["refused"], out
    assert out["rows"] == 0 and out["rss_mb"] < MAX_RSS_MB, out


def test_a_sparse_sheet_within_the_limits_is_read_row_by_row_not_as_a_grid(tmp_path):
    """CV1048576: 100 columns x 1,048,576 rows of extent (calamine: 3.4 GB), two cells of content."""
    path = far_cell(tmp_path / "sparse.xlsx", "CV1048576", None)
    out = read_in_subprocess(path)
    assert out["refused"] is None and out["rows"] == 2 and out["last"] == [1048576, 100], out
    assert out["rss_mb"] < MAX_RSS_MB, out


def test_zip_bomb_is_refused_before_reading_in_bounded_memory(bomb):
    out = read_in_subprocess(bomb)
    assert out["refused"] and "压缩比异常" in out["refused"], out
    assert out["rss_mb"] < MAX_RSS_MB, out


def test_declared_uncompressed_size_over_the_limit_is_refused(bomb):
    with pytest.raises(FileRefused, match="超过 512 MB 的上限"):
        check_file(bomb, Limits(max_uncompressed_mb=512))


def test_rows_columns_and_cell_length_over_the_limits_are_refused_naming_the_cell(tmp_path, monkeypatch):
    rows = "".join(f'<row r="{n}">{inline(f"A{n}", "P")}{inline(f"B{n}", "2026-11-01")}</row>' for n in range(1, 6))
    five = workbook(tmp_path / "five.xlsx", rows, "A1:B5")
    assert len(list(rows_of(five))) == 5
    with pytest.raises(FileRefused, match=r"范围到 B5，超出上限（最多 4 行"):
        check_file(five, Limits(max_rows=4))
    with pytest.raises(FileRefused, match=r"范围到 B5，超出上限（最多 5000000 行、1 列）"):
        check_file(five, Limits(max_columns=1))
    # A <dimension> that understates the sheet is caught while reading, on either reader.
    lying = workbook(tmp_path / "lying.xlsx", rows, "A1:A1")
    with pytest.raises(FileRefused, match="单元格在 B5，超出上限"):
        list(rows_of(lying, Limits(max_rows=4)))
    from specadmin.runtime.imports import readers

    monkeypatch.setattr(readers, "CALAMINE_MAX_BYTES", 0)  # the streaming reader checks each row itself
    with pytest.raises(FileRefused, match="文件超过 4 行的上限（第 5 行）"):
        list(rows_of(lying, Limits(max_rows=4)))
    monkeypatch.undo()
    long = workbook(tmp_path / "long.xlsx", f'<row r="1">{inline("A1", "x" * 40)}</row><row r="2">'
                                            f'{inline("C2", "y" * 41)}</row>')
    with pytest.raises(FileRefused, match="单元格 C2 的内容超过 40 个字符的上限"):
        list(rows_of(long, Limits(max_cell_chars=40)))


def test_csv_rows_columns_and_cells_over_the_limits_are_refused_naming_the_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("公共场所ID,采集时间\n" + "P1,2026-11-01\n" * 4 + "P1," + "长" * 200000 + "\n", encoding="utf-8")
    with pytest.raises(FileRefused, match="文件超过 3 行的上限（第 4 行）"):
        list(rows_of(path, Limits(max_rows=3)))
    with pytest.raises(FileRefused, match="第 1 行第 2 列超出 1 列的上限"):
        list(rows_of(path, Limits(max_columns=1)))
    # Over the csv module's own 131072-character field limit, and over ours.
    with pytest.raises(FileRefused, match="第 6 行.*超过 32767 个字符的上限"):
        list(rows_of(path))


def test_limits_are_read_from_app_yaml_imports():
    from types import SimpleNamespace

    assert Limits.of(SimpleNamespace(imports={"max_rows": 10, "max_cell_chars": 5})) == Limits(
        max_rows=10, max_cell_chars=5)
    assert Limits.of(SimpleNamespace()) == Limits()
