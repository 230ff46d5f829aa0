"""DerivedTensorCache: reuse at inference, rebuild whenever its sources change, bypass in training."""
import torch
from torch import nn

from sam2.modeling.sam2_utils import DerivedTensorCache


class _Owner(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(3))
        self.cache = DerivedTensorCache()
        self.builds = 0

    def derived(self, scale: int) -> torch.Tensor:
        def build():
            self.builds += 1
            return self.weight * scale
        return self.cache.get(self, [self.weight], build, extra=scale)


def test_reused_at_inference_and_rebuilt_when_sources_change():
    owner = _Owner().eval()
    with torch.no_grad():
        first = owner.derived(2)
        assert owner.derived(2) is first and owner.builds == 1
        assert torch.equal(owner.derived(3), torch.full((3,), 3.0)) and owner.builds == 2  # extra key
        owner.weight.mul_(5)  # in-place edit bumps the version
        assert torch.equal(owner.derived(3), torch.full((3,), 15.0))
        owner.load_state_dict({"weight": torch.full((3,), 7.0)})
        assert torch.equal(owner.derived(3), torch.full((3,), 21.0))
        owner.double()
        assert owner.derived(3).dtype == torch.float64


def test_never_cached_in_training_or_under_autograd():
    owner = _Owner()
    owner.derived(2)
    owner.derived(2)
    assert owner.builds == 2  # training mode
    owner.eval()
    out = owner.derived(2)
    assert out.requires_grad and owner.builds == 3  # autograd on: a fresh, differentiable result
    owner.derived(2)
    assert owner.builds == 4


def test_hiera_pos_embed_follows_loaded_weights():
    from sam2.modeling.backbones.hieradet import Hiera

    trunk = Hiera(embed_dim=8, num_heads=1, stages=(1, 1, 1, 1), global_att_blocks=(), window_spec=(4, 4, 2, 2),
                  window_pos_embed_bkg_spatial_size=(2, 2)).eval()
    with torch.no_grad():
        before = trunk._get_pos_embed((8, 8)).clone()
        state = {k: torch.randn_like(v) if "pos_embed" in k else v for k, v in trunk.state_dict().items()}
        trunk.load_state_dict(state)
        after = trunk._get_pos_embed((8, 8))
    assert not torch.allclose(before, after)
    assert torch.allclose(after, trunk._build_pos_embed((8, 8)))
