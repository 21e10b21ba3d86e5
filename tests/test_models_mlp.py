import math

import pytest
import torch

from diffusion_core.models import FiLMMLP, MLPConfig, SinusoidalTimeEmbedding

pytestmark = pytest.mark.usefixtures("single_thread")


def test_sinusoidal_embedding_matches_the_transformer_formula():
    embedding = SinusoidalTimeEmbedding(8)
    t = torch.tensor([0, 7, 999])
    out = embedding(t)
    frequencies = [10000 ** (-k / 3) for k in range(4)]
    expected = [[math.sin(v * f) for f in frequencies] + [math.cos(v * f) for f in frequencies] for v in (0, 7, 999)]
    assert torch.allclose(out, torch.tensor(expected), atol=1e-4)


def test_model_maps_points_to_points_of_the_same_shape():
    model = FiLMMLP(MLPConfig(hidden=32, num_layers=2, fourier_bands=3))
    x = torch.randn(5, 2)
    assert model(x, torch.arange(5), torch.tensor([0, 1, -1, 0, 1])).shape == (5, 2)


def trained_looking(model):
    torch.manual_seed(0)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.3)
    return model


def test_minus_one_and_none_labels_both_select_the_null_label():
    model = trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=2)))
    x, t = torch.randn(4, 2), torch.tensor([3, 50, 50, 900])
    null = model(x, t, torch.full((4,), model.null_label))
    assert torch.allclose(model(x, t, torch.full((4,), -1)), null)
    assert torch.allclose(model(x, t, None), null)
    assert not torch.allclose(model(x, t, torch.zeros(4, dtype=torch.long)), null)


def test_shared_conditioning_shortcut_equals_row_by_row_evaluation():
    model = trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=2)))
    x = torch.randn(12, 2)
    t = torch.full((12,), 40)
    labels = torch.tensor([0, 1, -1] * 4)
    rows = torch.cat([model(x[i : i + 1], t[i : i + 1], labels[i : i + 1]) for i in range(12)])
    assert torch.allclose(model(x, t, labels), rows, atol=1e-5)


@pytest.mark.parametrize("inference", [False, True])
def test_runs_of_rows_sharing_t_and_label_equal_row_by_row_evaluation(inference):
    # A guided sampler's batch: conditional rows then unconditional ones, one t; the model
    # computes each run's FiLM once and broadcasts it (in place when no gradient is needed).
    model = trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=2)))
    x = torch.randn(12, 2)
    t = torch.tensor([40] * 8 + [7] * 4)
    labels = torch.tensor([1] * 4 + [-1] * 4 + [0] * 4)
    rows = torch.cat([model(x[i : i + 1], t[i : i + 1], labels[i : i + 1]) for i in range(12)])
    with torch.inference_mode(inference):
        batched = model(x, t, labels)
    assert torch.allclose(batched, rows, atol=1e-5)
    assert batched.requires_grad is not inference


def test_model_config_rejects_unknown_prediction_and_unknown_keys():
    with pytest.raises(ValueError, match="prediction 'score' is not one of epsilon"):
        MLPConfig(prediction="score")
    with pytest.raises(ValueError, match=r"unknown model config keys \['depth'\]"):
        MLPConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="hidden must be a positive integer, got 0"):
        MLPConfig(hidden=0)


@pytest.mark.parametrize("activation", ["silu", "hardswish"])
def test_folding_the_modulation_into_the_weights_changes_nothing(activation):
    # Under inference, a batch sharing one (t, label) has its FiLM folded into each layer's
    # weights and bias; with gradients on, the rows are modulated after the product.
    model = trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=3, activation=activation)))
    x, t, labels = torch.randn(50, 2), torch.full((50,), 321), torch.full((50,), 1)
    modulated = model(x, t, labels)
    with torch.inference_mode():
        folded = model(x, t, labels)
    assert modulated.requires_grad and not folded.requires_grad
    scale = modulated.detach().abs().max()
    assert (folded - modulated.detach()).abs().max() <= 1e-5 * scale  # float32 rounding, nothing more


def test_inference_modulation_table_matches_direct_evaluation_and_follows_the_weights():
    # Under inference each label's modulation for every timestep is computed once, in a table that
    # grows past its first 1024 steps and is rebuilt whenever a weight the modulation reads changes.
    model = trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=2)))
    x = torch.randn(6, 2)

    def both(step: int, label: int):
        t, labels = torch.full((6,), step), torch.full((6,), label)
        direct = model(x, t, labels).detach()  # gradients on: computed from scratch
        with torch.inference_mode():
            tabled = model(x, t, labels)
        return direct, tabled

    def same(a, b):  # float32 rounding apart: the table's rows come from a batched product
        return (a - b).abs().max() <= 1e-5 * b.abs().max()

    for step, label in [(0, 0), (999, 1), (1500, -1), (70_000, 0)]:  # 70,000: past the table, direct
        direct, tabled = both(step, label)
        assert same(tabled, direct), (step, label)
    assert len(model.film_table(0, 1500)) == 2048

    before, _ = both(500, 1)
    with torch.no_grad():
        model.film.bias.add_(0.5)  # as an optimizer step would
    direct, tabled = both(500, 1)
    assert not same(direct, before)
    assert same(tabled, direct)

    model.load_state_dict(trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=2))).state_dict())
    direct, tabled = both(500, 1)
    assert same(tabled, before) and same(tabled, direct)

    model.double()
    with torch.inference_mode():
        assert model(x.double(), torch.full((6,), 500), torch.full((6,), 1)).dtype == torch.float64


def test_the_trunk_activation_is_a_config_choice_and_older_configs_mean_silu():
    silu = trained_looking(FiLMMLP(MLPConfig(hidden=16, num_layers=2)))
    hardswish = FiLMMLP(MLPConfig(hidden=16, num_layers=2, activation="hardswish"))
    hardswish.load_state_dict(silu.state_dict())  # same weights: only the nonlinearity differs
    x, t = torch.randn(8, 2), torch.full((8,), 100)

    def by_hand(model, act):  # input layer, then h ← h + act(W h·(1 + scale) + shift), output layer
        film = model.modulation(t, torch.full((8,), -1))
        h = act(model.input(x))
        for i, layer in enumerate(model.layers):
            h = h + act(layer(h) * film[:, i, 1] + film[:, i, 0])
        return model.output(h)

    for model, act in ((silu, torch.nn.functional.silu), (hardswish, torch.nn.functional.hardswish)):
        assert torch.allclose(model(x, t), by_hand(model, act), atol=1e-5)
    assert not torch.allclose(silu(x, t), hardswish(x, t), atol=1e-3)
    saved = MLPConfig(hidden=16).to_dict()
    del saved["activation"]  # a config.json written before the option existed
    assert MLPConfig.from_dict(saved).activation == "silu"
    with pytest.raises(ValueError, match="activation 'relu' is not one of silu, hardswish"):
        MLPConfig(activation="relu")
