"""The rules backend, the context file (resume, changed reports, torn lines) and the import backend."""

from __future__ import annotations

import json

import pytest

from ecamp_bench.errors import DataError, EcampBenchError
from ecamp_bench.text.distill import ContextStore, distill_contexts, load_contexts, report_sha256
from ecamp_bench.text.distill_import import ImportBackend, normalise_study_id
from ecamp_bench.text.distill_rules import RulesBackend, read_sentence, rules_context


def _reading(sentence):
    return [(m.name, m.status, m.location, m.severity) for m in read_sentence(sentence)]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("No pleural effusion.", [("pleural effusion", "absent", "", "")]),
        (
            "There is no pneumothorax, effusion, or focal consolidation.",
            [("pneumothorax", "absent", "", ""), ("effusion", "absent", "", ""), ("consolidation", "absent", "", "")],
        ),
        ("Lungs are free of consolidation.", [("consolidation", "absent", "", "")]),
        ("Negative for pneumothorax.", [("pneumothorax", "absent", "", "")]),
        ("The right effusion has resolved.", [("effusion", "absent", "on the right", "")]),
        ("Pneumothorax cannot be excluded.", [("pneumothorax", "uncertain", "", "")]),
        ("Questionable small nodule at the left apex.", [("nodule", "uncertain", "at the left apex", "small")]),
        ("Opacity may represent pneumonia.", [("opacity", "present", "", ""), ("pneumonia", "uncertain", "", "")]),
        (
            "Moderate consolidation in the right lower lobe.",
            [("consolidation", "present", "in the right lower lobe", "moderate")],
        ),
        ("Bibasilar atelectasis.", [("atelectasis", "present", "at both bases", "")]),
        ("Small bilateral pleural effusions.", [("pleural effusion", "present", "bilaterally", "small")]),
        (
            "No pneumothorax and a large left effusion.",
            [("pneumothorax", "absent", "", ""), ("effusion", "present", "on the left", "large")],
        ),
        (
            "No pneumothorax, but there is mild pulmonary edema.",
            [("pneumothorax", "absent", "", ""), ("pulmonary edema", "present", "", "mild")],
        ),
        ("The cardiomediastinal silhouette is normal.", [("cardiomediastinal silhouette", "normal", "", "")]),
    ],
)
def test_rules_readings(sentence, expected):
    assert _reading(sentence) == expected


def test_rules_context_is_fluent_and_deduplicated():
    report = (
        "Moderate consolidation in the right lower lobe. No pleural effusion. Pneumothorax cannot be excluded. "
        "IMPRESSION: Moderate consolidation in the right lower lobe."
    )
    assert rules_context(report) == (
        "Entity context: consolidation present in the right lower lobe, moderate. Pleural effusion absent. "
        "Pneumothorax uncertain."
    )
    assert rules_context("Heart size is normal. Lungs are clear.") == "Entity context: no listed entity mentioned."
    assert RulesBackend().distill([report, report]) == [rules_context(report)] * 2


class CountingBackend(RulesBackend):
    """The rules backend, counting the reports it is asked for."""

    def __init__(self):
        super().__init__()
        self.asked: list[str] = []

    def distill(self, reports, study_ids=None):
        self.asked.extend(study_ids)
        return super().distill(reports)


def test_resume_skips_done_and_redoes_changed(tmp_path):
    path = tmp_path / "ecamp_contexts.jsonl"
    items = [("s1", "Small left effusion."), ("s2", "No pneumothorax."), ("s1", "Small left effusion.")]
    first = CountingBackend()
    summary = distill_contexts(items, first, path, chunk_size=1)
    assert (summary.done, summary.skipped, summary.failed) == (2, 0, 0) and first.asked == ["s1", "s2"]
    # rerun: nothing to do; changed report and new study only
    again = CountingBackend()
    summary = distill_contexts([*items, ("s3", "Mild edema.")], again, path)
    assert (summary.done, summary.skipped) == (1, 2) and again.asked == ["s3"]
    changed = CountingBackend()
    summary = distill_contexts([("s1", "Large left effusion."), ("s2", "No pneumothorax.")], changed, path)
    assert changed.asked == ["s1"] and summary.skipped == 1
    contexts = load_contexts(path)
    assert contexts["s1"] == "Entity context: effusion present on the left, large."
    assert set(contexts) == {"s1", "s2", "s3"}
    records = ContextStore(path).read()
    assert records["s1"].report_sha256 == report_sha256("Large left effusion.") and records["s1"].backend == "rules-v1"
    # superseded lines were compacted away
    assert len(path.read_text().splitlines()) == 3
    # force redoes everything
    forced = CountingBackend()
    distill_contexts([("s2", "No pneumothorax.")], forced, path, force=True)
    assert forced.asked == ["s2"]


def test_torn_last_line_is_ignored_and_repaired(tmp_path):
    path = tmp_path / "ctx.jsonl"
    distill_contexts([("s1", "Mild edema.")], RulesBackend(), path)
    with open(path, "a") as fh:
        fh.write('{"study_id": "s2", "report_sha')  # a crash in the middle of an append
    assert set(load_contexts(path)) == {"s1"}
    summary = distill_contexts([("s1", "Mild edema."), ("s2", "No effusion.")], RulesBackend(), path)
    assert (summary.done, summary.skipped) == (1, 1)
    assert [json.loads(line)["study_id"] for line in path.read_text().splitlines()] == ["s1", "s2"]


def test_corrupt_middle_line_names_file_and_row(tmp_path):
    path = tmp_path / "ctx.jsonl"
    path.write_text('{"study_id": "s1"}\n{"study_id": "s2", "report_sha256": "x", "backend": "b", "context": "c"}\n')
    with pytest.raises(DataError, match=r"ctx.jsonl, row 1"):
        load_contexts(path)


def test_import_backend(tmp_path):
    csv_path = tmp_path / "ecamp_context.csv"
    csv_path.write_text(
        'subject_id,study_id,llm_output\n10,s50414267,"Effusion present, small."\n11,53189527,Pneumothorax absent.\n'
    )
    backend = ImportBackend(csv_path)
    assert (backend.distill(["r1", "r2"], ["50414267", "s53189527"])
            == ["Effusion present, small.", "Pneumothorax absent."])
    summary = distill_contexts(
        [("s50414267", "r1"), ("s99999999", "r3")], backend, tmp_path / "ctx.jsonl", chunk_size=2
    )
    assert (summary.done, summary.failed) == (1, 1) and "99999999" in summary.errors[0][1]
    assert normalise_study_id("files/p10/p10000032/s50414267/abc.jpg") == "50414267"
    with pytest.raises(EcampBenchError, match="study ids"):
        backend.distill(["r1"])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("study_id,text\ns1,x\n", r"ecamp\.csv, key 'llm_output': missing column 'llm_output'"),
        ("subject,llm_output\n1,x\n", r"ecamp\.csv, key 'study_id': missing study id column"),
        ("study_id,llm_output\ns1,a,b\n", r"ecamp\.csv, row 2: more fields"),
    ],
)
def test_import_csv_errors(tmp_path, content, match):
    path = tmp_path / "ecamp.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        ImportBackend(path)
