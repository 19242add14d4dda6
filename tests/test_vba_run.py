"""LibreOffice runs a Sub of a project built by `ovba` (issue 20): the only execution of the built
project possible without Excel.

The workbook holds tokenbook's own macro project plus a test-only module whose Subs write into
cells of the first sheet. A Basic runner installed in a throw-away LibreOffice profile (application
macros of "My Macros" are trusted) opens the workbook with macros allowed, invokes the document's
VBA Subs through their `vnd.sun.star.script:` URLs, logs each call, saves a copy as .xlsx, and ends
LibreOffice; the test reads the copy back with openpyxl.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from xml.sax.saxutils import escape

import openpyxl
import pytest

from tokenbook.books import vba
from tokenbook.books.build import SHEETS_WITH_CONF, build_workbook
from tokenbook.files import ovba

TEST_MODULE = '''Option Explicit
' 日本語のコメント: the cp932 source must survive into execution

Public Sub WriteCell()
    ThisWorkbook.Worksheets(1).Range("B2").Value = "実行済み " & CStr(6 * 7)
End Sub

Public Sub WriteTwo()
    On Error GoTo failed
    Worksheets(1).Range("B3").Value = Twice(21)
    Exit Sub
failed:
    Worksheets(1).Range("B3").Value = "error " & Err.Number & " " & Err.Description
End Sub

Private Function Twice(ByVal n As Long) As Long
    Twice = 2 * n
End Function

Public Sub WriteWithClass()
    On Error GoTo failed
    Dim c As Counter
    Set c = New Counter
    c.Add 40
    c.Add 2
    Worksheets(1).Range("B4").Value = "class " & CStr(c.Total)
    Exit Sub
failed:
    Worksheets(1).Range("B4").Value = "error " & Err.Number & " " & Err.Description
End Sub
'''

TEST_CLASS = '''Option Explicit
Private pTotal As Long

Public Sub Add(ByVal n As Long)
    pTotal = pTotal + n
End Sub

Public Property Get Total() As Long
    Total = pTotal
End Property
'''

# xlwings' Dictionary class is in the project but not called: LibreOffice 7.4 makes `New Dictionary`
# yet answers d.Add / d.Count with "Property or method not found", while the plain class module
# above, built the same way, works; so it is the Dictionary source (conditional compilation,
# per-procedure Attribute lines, Scripting.Dictionary underneath) that LibreOffice's Basic does not
# take, and that source equals the Excel-made one (test_vba_conformance).
CALLS = ("WriteCell", "WriteTwo", "WriteWithClass")

RUNNER = '''
Sub Main
    Dim load(1) As New com.sun.star.beans.PropertyValue
    Dim save(0) As New com.sun.star.beans.PropertyValue
    Dim f As Integer, doc As Object, provider As Object, name As Variant
    load(0).Name = "MacroExecutionMode" : load(0).Value = 4 ' ALWAYS_EXECUTE_NO_WARN
    load(1).Name = "Hidden" : load(1).Value = True
    f = FreeFile
    Open Environ("TOKENBOOK_LOG") For Output As #f
    On Error Resume Next
    doc = StarDesktop.loadComponentFromURL(ConvertToURL(Environ("TOKENBOOK_IN")), "_blank", 0, load())
    Print #f, "load " & Err & " " & Error$
    provider = doc.getScriptProvider()
    For Each name In Split(Environ("TOKENBOOK_CALLS"), ",")
        Err.Clear
        provider.getScript("vnd.sun.star.script:VBAProject.TestRun." & name _
            & "?language=Basic&location=document").invoke(Array(), Array(), Array())
        Print #f, name & " " & Err & " " & Error$
    Next
    Err.Clear
    save(0).Name = "FilterName" : save(0).Value = "Calc MS Excel 2007 XML"
    doc.storeToURL(ConvertToURL(Environ("TOKENBOOK_OUT")), save())
    Print #f, "save " & Err & " " & Error$
    doc.close(True)
    Close #f
    StarDesktop.terminate()
End Sub
'''


def _module_xba(code: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD '
            'OfficeDocument 1.0//EN" "module.dtd">\n<script:module xmlns:script="http://openoffice.org/2000/script" '
            f'script:name="Module1" script:language="StarBasic">{escape(code, {chr(34): "&quot;"})}</script:module>\n')


def _soffice(soffice: str, profile: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run soffice in its own process group, so that a hang is ended whole (it never is here)."""
    process = subprocess.Popen([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
                                *args], env={**os.environ, **(env or {})}, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"LibreOffice did not finish: {out} {err}")
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.libreoffice
def test_libreoffice_runs_subs_of_an_ovba_built_project(soffice, tmp_path):
    modules = vba.modules(len(SHEETS_WITH_CONF)) + [ovba.Module("TestRun", TEST_MODULE),
                                                    ovba.Module("Counter", TEST_CLASS, klass=True)]
    project = tmp_path / "vbaProject.bin"
    project.write_bytes(ovba.compound_file(ovba.project_streams(modules)))
    book = build_workbook(tmp_path / "run.xlsm", vba_project=project, buttons=[])
    before = openpyxl.load_workbook(book).worksheets[0]
    assert [before[c].value for c in ("B2", "B3", "B4")] == [None] * 3  # nothing there until a Sub writes it

    profile = tmp_path / "lo-profile"
    _soffice(soffice, profile, "--terminate_after_init")  # makes the profile with its Standard library
    module = profile / "user" / "basic" / "Standard" / "Module1.xba"
    assert module.exists(), "LibreOffice made no profile"
    module.write_text(_module_xba(RUNNER), encoding="utf-8")

    out, log = tmp_path / "after.xlsx", tmp_path / "runner.log"
    done = _soffice(soffice, profile, "macro:///Standard.Module1.Main",
                    env={"TOKENBOOK_IN": str(book), "TOKENBOOK_OUT": str(out), "TOKENBOOK_LOG": str(log),
                         "TOKENBOOK_CALLS": ",".join(CALLS)})
    assert log.exists(), f"the runner did not run: {done.stdout} {done.stderr}"
    results = dict(line.split(" ", 1) for line in log.read_text(encoding="utf-8", errors="replace").splitlines())
    assert results["load"].startswith("0 ") and results["save"].startswith("0 "), results
    assert all(results[name].startswith("0 ") for name in CALLS), results

    sheet = openpyxl.load_workbook(out).worksheets[0]
    assert sheet.title == "メニュー"
    assert sheet["B2"].value == "実行済み 42"
    assert sheet["B3"].value == 42  # a private Function of the same module, called and returned
    assert sheet["B4"].value == "class 42"  # a class module built by ovba: instantiated, methods run
