"""Training with UniLoss("auc") on scikit-learn's digits (8 vs rest) matches a BCE-trained twin."""

from metricloss.demo import train_digits


def test_uniloss_auc_trains_as_well_as_bce():
    result = train_digits(epochs=8, seed=0, log=None)
    assert result.initial_auc < 0.7
    assert result.uniloss_auc > 0.98
    assert result.uniloss_auc >= result.bce_auc - 0.02
