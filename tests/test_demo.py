"""The demo: the binary task's loop on digit 8 against the rest, UniLoss("auc") against cross-entropy."""

from metricloss.train.demo import train_digits


def test_uniloss_auc_trains_as_well_as_cross_entropy_through_the_training_loop():
    lines = []
    result = train_digits(epochs=8, seed=0, log=lines.append)
    for run, loss in ((result.uniloss, "uniloss"), (result.baseline, "baseline")):
        config = run.config
        assert (config.task, config.loss, config.metric, config.epochs, config.seed) == ("binary", loss, "auc", 8, 0)
        assert config.data_source.endswith("digit 8 is the positive class")
    assert len(lines) == 16 and lines[0].startswith("UniLoss(auc)   epoch  1/8  test AUC 0.")
    assert result.uniloss_auc > 0.95
    assert result.uniloss_auc >= result.baseline_auc - 0.02
