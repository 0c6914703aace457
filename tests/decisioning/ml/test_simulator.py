import numpy as np

from decisioning.decision.vector import feature_matrix, feature_vector
from decisioning.ml.simulator import SimulationConfig, simulate

CONFIG = SimulationConfig(seed=5, customers=300, days=40)


def test_same_seed_same_history_and_other_seed_differs():
    first, second = simulate(CONFIG), simulate(CONFIG)
    assert len(first) == len(second)
    for name, values in first.columns.items():
        np.testing.assert_array_equal(values, second.columns[name], err_msg=name)
    other = simulate(SimulationConfig(seed=6, customers=300, days=40))
    assert len(other) != len(first) or not np.array_equal(other.columns["amount"], first.columns["amount"])


def test_fraud_is_rare_but_present_in_every_kind():
    history = simulate(SimulationConfig(seed=5, customers=1500, days=60))
    assert 0.0005 < history.fraud_rate < 0.01
    kinds = history.kind_counts()
    assert kinds["outlier"] > 0
    assert kinds["merchant"] > 0
    assert kinds["takeover"] > 0


def test_rows_are_in_event_time_order_after_the_warmup():
    history = simulate(CONFIG)
    assert np.all(np.diff(history.seconds) >= 0)
    assert history.seconds.min() >= 0
    assert history.seconds.max() < 40 * 86400


def test_velocity_uses_only_the_customers_earlier_transactions():
    history = simulate(CONFIG)
    col = history.columns
    # Brute force over the labelled rows (the warm-up rows are dropped, so compare rows with a full window).
    for index in np.flatnonzero(history.seconds > 86_400)[:300:7]:
        mine = (col["customer"] == col["customer"][index]) & (col["t"] < col["t"][index])
        in_hour = mine & (col["t"] >= col["t"][index] - 3600)
        in_day = mine & (col["t"] >= col["t"][index] - 86400)
        assert col["velocity_1h"][index] == round(float(col["amount"][in_hour].sum()), 2)
        assert col["velocity_24h"][index] == round(float(col["amount"][in_day].sum()), 2)


def test_batch_vectors_equal_feature_vector_on_a_sample():
    history = simulate(CONFIG)
    sample = np.random.default_rng(0).choice(len(history), size=400, replace=False)
    batch = history.feature_matrix()[sample]
    np.testing.assert_array_equal(batch, feature_matrix([history.feature_set(int(i)) for i in sample]))
    assert feature_vector(history.feature_set(int(sample[0]))) == list(batch[0])


def test_rows_become_valid_contracts():
    history = simulate(CONFIG)
    fs, txn = history.feature_set(3), history.transaction(3)
    assert fs.is_complete
    assert fs.customer_id == txn.customer_id
    assert float(txn.amount) == fs.get("transaction_context", "amount")
    assert txn.is_international == fs.get("transaction_context", "is_international")
