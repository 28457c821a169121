import pytest
import torch
import torch.nn.functional as F

from core.models.efficientnet import FEATURE_CHANNELS, EfficientNetLite0, SameConv

skimage_data = pytest.importorskip("skimage.data")


def test_same_padding_matches_tensorflow_sizes():
    conv = SameConv(1, 1, 3, 2, bias=False)
    for n in (7, 8, 127, 128):
        assert conv(torch.zeros(1, 1, n, n)).shape[-1] == -(-n // 2)


def test_feature_maps():
    net = EfficientNetLite0().eval()
    feats = net.features(torch.rand(2, 3, 64, 96))
    assert [f.shape[1] for f in feats] == list(FEATURE_CHANNELS)
    assert [f.shape[-2:] for f in feats] == [(64 // s, 96 // s) for s in (2, 4, 8, 16, 32)]


def test_imagenet_weights_see_a_cat():
    """The package's weights load strictly into our architecture and classify a photo of
    a cat as a cat (ImageNet classes 281-285 are domestic cats)."""
    net = EfficientNetLite0(pretrained=True).eval()
    image = torch.as_tensor(skimage_data.chelsea()).permute(2, 0, 1)[None].float() / 255
    image = F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True)
    with torch.no_grad():
        top = net(image).softmax(-1)[0].topk(3)
    assert 281 <= int(top.indices[0]) <= 285 and float(top.values[0]) > 0.5
    assert all(281 <= int(i) <= 285 for i in top.indices)
