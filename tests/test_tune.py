"""Choosing a model's length penalty from a sweep."""

from alinea.models.train.tune import Trial, choose


def trial(penalty: float, bleu: float) -> Trial:
    return Trial(penalty, bleu, 0.0, 1.0)


def test_the_smallest_penalty_within_a_tenth_of_a_bleu_point_of_the_best_wins():
    trials = [trial(0.6, 7.99), trial(1.0, 8.33), trial(1.5, 8.95), trial(2.0, 9.03), trial(2.5, 9.05), trial(3.0, 9.05)]
    assert choose(trials).length_penalty == 2.0
    assert choose([trial(1.0, 9.0), trial(2.0, 9.2)]).length_penalty == 2.0
    assert choose([trial(2.0, 9.2), trial(1.0, 9.15)]).length_penalty == 1.0


def test_tune_sweeps_held_out_dev_lines_and_writes_its_choice(tiny_model_dir, tmp_path):
    import shutil

    from alinea.models.manifest import Manifest
    from alinea.models.train.tune import tune

    model_dir = shutil.copytree(tiny_model_dir, tmp_path / "model")
    chosen, trials = tune(model_dir, write=True, penalties=(1.0, 2.0), limit=4)
    assert [t.length_penalty for t in trials] == [1.0, 2.0]
    assert all(t.bleu >= 0 and t.chrf >= 0 and t.length_ratio > 0 for t in trials)
    assert chosen == choose(trials)
    assert Manifest.read(model_dir).length_penalty == chosen.length_penalty
