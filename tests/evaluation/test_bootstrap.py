"""Video-level bootstrap intervals of the dataset metrics (sam2.evaluation.bootstrap)."""
import pytest

from sam2.evaluation.bootstrap import bootstrap_interval, paired_bootstrap_difference
from sam2.evaluation.segments import ObjectScore


def _obj(video: str, obj_id: int, value: float, r: float | None = None) -> ObjectScore:
    return ObjectScore(video=video, obj_id=obj_id, j=value, f=value, f_dot=value, r_j=r, r_f_dot=r)


def test_constant_scores_give_a_point_interval():
    objects = [_obj(f"v{i}", 1, 0.4) for i in range(10)]
    ci = bootstrap_interval(objects, "J&F_new", num_samples=200)
    assert ci.estimate == pytest.approx(40.0) and ci.low == pytest.approx(40.0) and ci.high == pytest.approx(40.0)


def test_interval_brackets_the_estimate_and_narrows_with_more_videos():
    few = [_obj(f"v{i}", 1, 0.2 if i % 2 else 0.8) for i in range(8)]
    many = [_obj(f"v{i}", 1, 0.2 if i % 2 else 0.8) for i in range(128)]
    a = bootstrap_interval(few, num_samples=500, seed=1)
    b = bootstrap_interval(many, num_samples=500, seed=1)
    assert a.estimate == pytest.approx(50.0) and b.estimate == pytest.approx(50.0)
    assert a.low < 50.0 < a.high and b.low < 50.0 < b.high
    assert (b.high - b.low) < (a.high - a.low) / 2  # width ~ 1/sqrt(videos): 4x the videos, half the width


def test_objects_of_a_video_are_resampled_together():
    # two videos: one with nine objects at 1.0, one with a single object at 0.0; a draw of the
    # first video twice gives 1.0, of the second twice 0.0, one of each 0.9 -- never 0.5
    objects = [_obj("a", i, 1.0) for i in range(1, 10)] + [_obj("b", 1, 0.0)]
    ci = bootstrap_interval(objects, num_samples=400, confidence=0.99, seed=0)
    assert ci.estimate == pytest.approx(90.0)
    assert ci.low == pytest.approx(0.0) and ci.high == pytest.approx(100.0)


def test_undefined_metric_and_paired_difference():
    base = [_obj(f"v{i}", 1, 0.5, r=0.3) for i in range(20)]
    other = [_obj(f"v{i}", 1, 0.5, r=0.3 + (0.1 if i < 10 else 0.0)) for i in range(20)]
    d = paired_bootstrap_difference(base, other, "reappear_J&F_new", num_samples=300)
    assert d.estimate == pytest.approx(5.0)
    assert d.low > 0 and d.excludes_zero  # every video is at least as good: the difference is certain
    with pytest.raises(ValueError, match="undefined"):
        bootstrap_interval([_obj("v", 1, 0.5)], "reappear_J&F_new")
    with pytest.raises(ValueError, match="different videos"):
        paired_bootstrap_difference(base, other[:-1])
    with pytest.raises(KeyError, match="unknown metric"):
        bootstrap_interval(base, "nope")
