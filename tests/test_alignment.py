"""Weight matching (Git Re-Basin) recovers a known permutation of hidden units exactly,
and aligned overlap then sees two permuted copies of one mask as the same mask."""

import pytest
import torch

from lthpipe.alignment import aligned_overlap, match_units, permute
from lthpipe.compact import mlp_forward
from lthpipe.model import Architecture, init_params
from lthpipe.prune import magnitude_mask
from lthpipe.stability import chance_jaccard, jaccard


@pytest.mark.parametrize("hidden", [(16,), (12, 7)], ids=["one hidden layer", "two hidden layers"])
def test_weight_matching_recovers_a_known_permutation_exactly(hidden):
    arch = Architecture(6, hidden, 3)
    a = init_params(arch, 0, "init")
    gen = torch.Generator().manual_seed(1)
    shuffles = [torch.randperm(h, generator=gen) for h in hidden]
    b = permute(a, shuffles)  # a with its units shuffled: the same function
    x = torch.randn(20, 6, generator=gen)
    assert torch.allclose(mlp_forward(a, x), mlp_forward(b, x), atol=1e-6)
    perms = match_units(a, b)
    for shuffle, perm in zip(shuffles, perms):
        assert torch.equal(shuffle[perm], torch.arange(len(shuffle)))  # perm undoes the shuffle
    assert all(torch.equal(permute(b, perms)[k], a[k]) for k in a)


def test_aligned_overlap_sees_a_permuted_copy_of_a_mask_as_the_same_mask():
    arch = Architecture(6, (16,), 3)
    a = init_params(arch, 0, "trained")
    shuffle = torch.randperm(16, generator=torch.Generator().manual_seed(2))
    b = permute(a, [shuffle])
    masks = {f: [magnitude_mask(a, f), magnitude_mask(b, f)] for f in (1.0, 0.3)}
    report = aligned_overlap([(0, 0), (1, 0)], [a, b], masks, untrained=[a, b])
    sparse = next(f for f in report["fractions"] if f["fraction"] == 0.3)
    assert sparse["aligned"]["overall"] == 1.0 and sparse["aligned"]["layers"] == {"w0": 1.0, "w1": 1.0}
    assert sparse["unaligned"]["overall"] == jaccard(*masks[0.3]).overall < 1.0
    assert sparse["chance"]["overall"] == chance_jaccard(*masks[0.3]).overall  # a permutation keeps the counts
    assert report["pairs"] == 1 and report["weight_cosine"]["aligned"] == pytest.approx(1.0)
    # The baseline: the same matching of the untrained networks' magnitude masks (here the same pair).
    assert all(f["untrained_aligned"]["overall"] == 1.0 for f in report["fractions"])
