"""`--format junit`: valid against a JUnit XSD, and read right by the parsers of the two usual actions."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET

import pytest
import xmlschema

from tests.ci.conftest import XSD, good_record
from toolkit.validate.engine import LineFailure
from toolkit.validate.reference import Problem
from toolkit.validate.render import render_junit
from toolkit.validate.report import Report


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def resolve_file_and_line(file: str | None, line: str | None, class_name: str, output: str) -> tuple[str, int]:
    """mikepenz/action-junit-report's resolveFileAndLine (src/testParser.ts), in Python."""
    file_name = file if file else class_name.split(".")[-1]
    number = int(line) if line and line.isdigit() else None
    if file_name and number:
        return file_name, number
    escaped = re.escape(file_name).replace("::", "/")
    matches = re.findall(rf" [^ ]*{escaped}.*?:\d+", output)
    if not matches:
        return file_name, number or 1
    return file_name, int(matches[-1].split(":")[-1])


def mikepenz_cases(xml_text: str) -> list[dict]:
    """What mikepenz/action-junit-report makes of each testcase: status, message, file and line."""
    root = ET.fromstring(xml_text)
    suites = root.findall("testsuite") if root.tag == "testsuites" else [root]
    cases = []
    for suite in suites:
        for case in suite.findall("testcase"):
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            stack = (failure.text or "").strip() if failure is not None else ""
            message = (failure.get("message") if failure is not None else None) or stack or case.get("name")
            file, line = resolve_file_and_line(
                case.get("file") or (failure.get("file") if failure is not None else None) or suite.get("file"),
                case.get("line") or (failure.get("line") if failure is not None else None) or suite.get("line"),
                case.get("classname") or case.get("name"),
                stack,
            )
            status = "skipped" if case.find("skipped") is not None else ("failure" if failure is not None
                                                                            else "success")
            cases.append({"suite": suite.get("name"), "name": case.get("name"), "status": status,
                          "message": message.strip(), "file": file, "line": line, "details": stack})
    return cases


def dorny_run(xml_text: str) -> list[dict]:
    """What dorny/test-reporter's java-junit parser reads: suites with times, cases with results."""
    root = ET.fromstring(xml_text)
    assert root.tag == "testsuites"
    suites = []
    for suite in root.findall("testsuite"):
        time = float(suite.get("time", "nan")) * 1000
        assert not math.isnan(time), "dorny shows NaN ms for a suite without a time"
        tests = []
        for case in suite.findall("testcase"):
            failure = case.find("failure") if case.find("failure") is not None else case.find("error")
            result = "failed" if failure is not None else ("skipped" if case.find("skipped") is not None
                                                            else "success")
            assert not math.isnan(float(case.get("time", "nan")))
            tests.append({"name": case.get("name").strip(), "result": result,
                          "group": "" if case.get("classname") == suite.get("name") else case.get("classname"),
                          "message": failure.get("message") if failure is not None else None})
        suites.append({"name": suite.get("name").strip(), "tests": tests})
    return suites


def check_counts(xml_text: str) -> None:
    """The count attributes agree with the elements, as Jenkins and the actions expect."""
    root = ET.fromstring(xml_text)
    total = failures = 0
    for suite in root.findall("testsuite"):
        cases = suite.findall("testcase")
        failing = [c for c in cases if c.find("failure") is not None]
        assert int(suite.get("tests")) == len(cases) >= 1
        assert int(suite.get("failures")) == len(failing)
        total, failures = total + len(cases), failures + len(failing)
    assert int(root.get("tests")) == total and int(root.get("failures")) == failures


def test_one_suite_per_file_one_failing_case_per_invalid_record(render, write_batch, junit_schema):
    a = write_batch("batches/a.jsonl", good_record(1), good_record(2, title="", language="FR"), good_record(3),
                    b"{not json", good_record(5, published_date="2021-02-30"))
    b = write_batch("batches/b.jsonl", good_record(6), good_record(7))
    report, xml_text = render([a, b], "junit")
    junit_schema.validate(xml_text)
    check_counts(xml_text)
    cases = mikepenz_cases(xml_text)
    assert [(c["suite"], c["name"], c["status"]) for c in cases] == [
        (str(a), f"line 2 (id {good_record(2)['id']})", "failure"),
        (str(a), "line 4", "failure"),
        (str(a), f"line 5 (id {good_record(5)['id']})", "failure"),
        (str(b), "2 records valid", "success"),
    ]
    failing = [c for c in cases if c["status"] == "failure"]
    # mikepenz puts its annotation at the batch file and the record's line
    assert [(c["file"], c["line"]) for c in failing] == [(str(a), 2), (str(a), 4), (str(a), 5)]
    assert failing[0]["message"] == "line 2: /title: '' should be non-empty (+2 more)"
    assert [d.strip() for d in failing[0]["details"].splitlines()[1:]] == [
        f"{a}:2: /title [minLength] '' should be non-empty",
        f"{a}:2: /title [pattern] '' does not match '\\\\S'",
        f"{a}:2: /language [pattern] 'FR' does not match '^[a-z]{{2,3}}$'",
    ]
    assert failing[1]["message"].startswith("line 4: /: ")
    assert failing[2]["message"] == "line 5: /published_date: '2021-02-30' is not a 'date'"
    suites = dorny_run(xml_text)
    assert [(s["name"], [t["result"] for t in s["tests"]]) for s in suites] == [
        (str(a), ["failed", "failed", "failed"]), (str(b), ["success"])]
    assert all(t["group"] == "" for s in suites for t in s["tests"])  # classname = suite: no extra grouping


def test_clean_batch_is_a_single_passing_case(render, write_batch, junit_schema):
    path = write_batch("ok.jsonl", *[good_record(i) for i in range(5)])
    _, xml_text = render([path], "junit")
    junit_schema.validate(xml_text)
    root = ET.fromstring(xml_text)
    [suite] = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == (str(path), "1", "0")
    [case] = suite.findall("testcase")
    assert case.get("name") == "5 records valid" and list(case) == []


def test_max_errors_leaves_one_case_for_the_records_not_listed(render, write_batch, junit_schema):
    path = write_batch("m.jsonl", *[good_record(i, title="") for i in range(8)])
    _, xml_text = render([path], "junit", max_errors=5)
    junit_schema.validate(xml_text)
    check_counts(xml_text)
    cases = mikepenz_cases(xml_text)
    assert [c["name"] for c in cases][-1] == "5 more invalid records"
    assert cases[-1]["message"] == "5 invalid records not listed (--max-errors)"
    assert len(cases) == 4  # lines 1-3 listed (5 errors kept), then the rest in one case


def test_markup_and_characters_xml_forbids_are_escaped(junit_schema):
    report = Report(schema_id="s")
    report.summary_for('weird <&> "name".jsonl').records = 1
    report.summary_for('weird <&> "name".jsonl').invalid = 1
    nasty = "<b>&amp; \"quotes\" 'single' ]]> \x00\x01\x1b \ufffe tab\tnew\nline"
    # ids are taken as they are: {"id": "\u0001"} is valid JSON
    failure = LineFailure(1, b"", "</testcase>\x01", [Problem("/a&b", "type", nasty)])
    report.add_failure('weird <&> "name".jsonl', failure)
    out = io.StringIO()
    render_junit(report, out)
    xml_text = out.getvalue()
    junit_schema.validate(xml_text)
    [case] = mikepenz_cases(xml_text)
    assert case["name"] == "line 1 (id </testcase>\ufffd)" and case["suite"] == 'weird <&> "name".jsonl'
    assert "<b>&amp; \"quotes\" 'single' ]]>" in case["message"]
    assert "\x00" not in case["details"] and "\ufffd" in case["details"]


def test_the_xsd_rejects_what_jenkins_rejects(render, write_batch, junit_schema):
    """The schema has teeth: the same document, broken the ways a hand-rolled writer breaks it, fails."""
    path = write_batch("b.jsonl", good_record(1, title=""))
    _, xml_text = render([path], "junit")
    junit_schema.validate(xml_text)
    broken = [
        xml_text.replace('<testcase name="line 1', '<testcase nom="line 1'),  # testcase without a name
        xml_text.replace(' failures="1" errors="0" skipped="0"', ' errors="0" skipped="0"'),  # suite counts
        xml_text.replace('<testcase name=', '<testcase line="1" name=', 1),  # attribute Jenkins does not know
        xml_text.replace("<testsuites ", "<testrun ").replace("</testsuites>", "</testrun>"),  # unknown root
    ]
    for doc in broken:
        with pytest.raises(xmlschema.XMLSchemaValidationError):
            junit_schema.validate(doc)
