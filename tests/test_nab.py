"""NAB's scoring, on small hand-made series and on the corpus kept for it."""

from __future__ import annotations

import numpy as np
import pytest

from bench.nab import PROFILES, Profile, Series, load_corpus, score_corpus, sigma

STANDARD = PROFILES[0]


def series(rows: int, windows: tuple[tuple[int, int], ...]) -> Series:
    times = np.datetime64("2026-01-01T00:00:00") + np.arange(rows).astype(
        "timedelta64[m]"
    )
    return Series("made.csv", times, np.zeros(rows), windows)


def detections(rows: int, *at: int) -> np.ndarray:
    scores = np.zeros(rows)
    scores[list(at)] = 1.0
    return scores


# 1,000 rows: the first 150 are probation; one window of 100 rows.
ROWS = 1000
WINDOW = ((500, 599),)


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.name)
def test_detecting_each_window_at_its_start_scores_100(profile: Profile) -> None:
    result = score_corpus([series(ROWS, WINDOW)], [detections(ROWS, 500)], profile)

    assert result.score == pytest.approx(100.0)
    assert result.detected == 1


def test_detecting_nothing_scores_0() -> None:
    result = score_corpus([series(ROWS, WINDOW)], [np.zeros(ROWS)], STANDARD)

    assert result.score == 0.0
    assert result.threshold == np.inf


def test_a_late_detection_earns_the_weight_of_its_place() -> None:
    result = score_corpus([series(ROWS, WINDOW)], [detections(ROWS, 550)], STANDARD)

    weight = sigma(-(599 - 550 + 1) / 100) / sigma(-1.0)
    assert result.raw == pytest.approx(weight)
    assert 0 < weight < 1


def test_a_false_positive_before_any_window_costs_its_whole_weight() -> None:
    scores = detections(ROWS, 300, 500)

    result = score_corpus([series(ROWS, WINDOW)], [scores], STANDARD)

    # Detecting both is worth 1 - 0.11; detecting nothing is worth -1.
    assert result.raw == pytest.approx(1.0 - STANDARD.false_positive)
    assert result.false_positives == 1


def test_a_detection_just_after_a_window_costs_almost_nothing() -> None:
    scores = detections(ROWS, 500, 601)

    result = score_corpus([series(ROWS, WINDOW)], [scores], STANDARD)

    assert 1.0 - 0.01 < result.raw < 1.0


def test_detections_in_probation_are_not_scored() -> None:
    result = score_corpus([series(ROWS, WINDOW)], [detections(ROWS, 10)], STANDARD)

    assert result.false_positives == 0
    assert result.score == 0.0


def test_the_best_threshold_is_chosen_and_ties_go_to_the_highest() -> None:
    scores = np.zeros(ROWS)
    scores[500] = 0.8
    scores[300] = 0.5
    scores[700] = 0.9

    result = score_corpus([series(ROWS, WINDOW)], [scores], STANDARD)

    # 0.8 catches the window and one false positive (at 700, three widths
    # after it ends: nearly its whole cost); 0.5 would add another.
    assert result.threshold == 0.8
    assert result.false_positives == 1


def test_outputs_of_the_wrong_length_are_refused() -> None:
    with pytest.raises(ValueError, match=r"made\.csv has 1000 rows"):
        score_corpus([series(ROWS, WINDOW)], [np.zeros(10)], STANDARD)


def test_the_corpus_holds_35_series_and_55_windows() -> None:
    corpus = load_corpus()

    assert len(corpus) == 35
    assert sum(len(s.windows) for s in corpus) == 55
    for item in corpus:
        for first, last in item.windows:
            assert 0 <= first <= last < len(item.values)
