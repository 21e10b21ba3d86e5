import torch

from diffusion_core.models import CharacterClassifier, ClassifierConfig


def test_logits_cover_62_classes_and_features_are_the_penultimate_layer():
    model = CharacterClassifier(ClassifierConfig()).eval()
    x = torch.rand(5, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        logits, features = model(x), model.features(x)
    assert logits.shape == (5, 62) and features.shape == (5, 256)
    assert (features >= 0).all()
    assert torch.allclose(model.head(features), logits, atol=1e-6)
