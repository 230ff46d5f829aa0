"""The demo's printed table: columns, values, n/a cells and the on-off difference line."""
from sam2.demo.table import ScoreRow, format_table


def _row(label, jf, j, f, d, r):
    return ScoreRow(label, {"J&F_new": jf, "J": j, "F_new": f, "disappear_J&F_new": d, "reappear_J&F_new": r})


def test_columns_read_the_evaluators_dataset_metrics():
    """The table is fed by sam2.evaluation.report.dataset_metrics: each column must find its key
    there (a renamed key would silently show n/a)."""
    from sam2.evaluation.aggregate import DatasetScore
    from sam2.evaluation.report import dataset_metrics

    score = DatasetScore(j=0.5, f=0.25, f_dot=0.7, d_j=0.2, d_f_dot=0.4, r_j=0.9, r_f_dot=0.5,
                         bd_j=None, bd_f_dot=None, num_objects=3, num_d_objects=1, num_r_objects=1,
                         num_bd_objects=0)
    lines = format_table([ScoreRow("run A", dataset_metrics(score))]).splitlines()
    # J&Ḟ = (0.5 + 0.7) / 2, J, Ḟ, J&Ḟ_d = (0.2 + 0.4) / 2, J&Ḟ_r = (0.9 + 0.5) / 2, all x100
    assert [c.strip() for c in lines[2].split("|")] == ["run A", "60.00", "50.00", "70.00", "30.00", "70.00"]


def test_values_missing_cells_and_difference_line():
    off = _row("RCMS off", 60.0, 58.5, 61.5, None, 40.25)
    on = _row("RCMS on (N=4)", 62.5, 60.0, 65.0, 12.0, 45.0)
    lines = format_table([off, on]).splitlines()
    assert lines[0].split("|")[0].strip() == "run"
    assert [c.strip() for c in lines[0].split("|")[1:]] == ["J&Ḟ", "J", "Ḟ", "J&Ḟ_d", "J&Ḟ_r"]
    assert [c.strip() for c in lines[2].split("|")] == ["RCMS off", "60.00", "58.50", "61.50", "n/a", "40.25"]
    assert [c.strip() for c in lines[3].split("|")] == ["RCMS on (N=4)", "62.50", "60.00", "65.00", "12.00", "45.00"]
    # 62.5-60 = +2.5, 60-58.5 = +1.5, 65-61.5 = +3.5, n/a (off has no d), 45-40.25 = +4.75
    assert [c.strip() for c in lines[-1].split("|")] == ["Δ (on - off)", "+2.50", "+1.50", "+3.50", "n/a", "+4.75"]
    # all lines of the body have the same width
    assert len({len(line) for line in lines}) == 1


def test_nan_is_shown_as_missing_and_single_row_has_no_difference():
    row = _row("only", float("nan"), 1.0, 2.0, 3.0, 4.0)
    text = format_table([row])
    assert "Δ" not in text
    assert text.splitlines()[2].split("|")[1].strip() == "n/a"
