"""``%llm_runs``' table: one row per run, a compact default that fits 110 columns, ``--all`` for the rest."""
from __future__ import annotations

from llm_magic.runtime.training.runs import RunRecord, RunsTable


def _run(run_id, status="finished", learning_rate=0.01, **metrics):
    config = {"base_model": "organisation-with-a-long-name/some-model-7b-instruct-v0.3",
              "adapter": {"type": "lora", "r": 8}, "trainer": {"learning_rate": learning_rate}}
    record = RunRecord(run_id=run_id, kind="finetune", config=config, status=status, global_step=630,
                       max_steps=630, started=0.0, finished=323.0, metrics=dict(metrics))
    return record


def test_a_saved_and_loaded_run_is_one_row_the_newest_record():
    first = _run("20261202-101500-1", best_validation_loss=0.5, test_exact_match=0.75)
    other = _run("20261202-102000-2", test_exact_match=0.5)
    loaded = _run("20261202-101500-1", status="loaded", best_validation_loss=0.5, test_exact_match=0.75)
    table = RunsTable([first, other, loaded])
    assert len(table) == 2 and list(table.compact.index) == ["20261202-101500-1", "20261202-102000-2"]
    assert table.compact.loc["20261202-101500-1", "status"] == "loaded"


def test_compact_view_has_the_key_columns_and_fits_110_columns():
    table = RunsTable([_run("20261202-101500-1", status="early_stopped", best_validation_loss=0.4321,
                            test_exact_match=1.0, test_bleu=0.0, test_loss=0.2),
                       _run("20261202-102000-2", test_accuracy=0.9)])
    text = repr(table)
    assert max(len(line) for line in text.splitlines()) <= 110, text
    row = table.compact.loc["20261202-101500-1"]
    assert (row["steps"], row["time"], row["best eval"]) == ("630/630", "5:23", "0.4321")
    assert row["key metric"] == "exact_match 1.000" and row["adapter"] == "lora"
    assert row["base model"].startswith("…") and row["base model"].endswith("instruct-v0.3")
    assert table.compact.loc["20261202-102000-2", "key metric"] == "accuracy 0.900"
    assert "test_bleu" not in text and "%llm_runs --all" in text


def test_all_columns_show_differing_config_and_every_metric():
    table = RunsTable([_run("20261202-101500-1", test_bleu=0.0), _run("20261202-102000-2", learning_rate=0.02, test_bleu=1.0)],
                      all_columns=True)
    assert "trainer.learning_rate" in repr(table) and "test_bleu" in repr(table)
    assert "overflow-x:auto" in table._repr_html_()
