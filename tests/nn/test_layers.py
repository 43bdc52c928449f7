import torch

from scvi_interpret.nn import CovariateOffsets, LinearDecoder


def test_offsets_add_one_row_per_category():
    offsets = CovariateOffsets(n_output=4, n_cats_per_cov=[3, 2], n_continuous=1)
    with torch.no_grad():
        offsets.categorical[0].weight.copy_(torch.arange(12.0).reshape(3, 4))
        offsets.categorical[1].weight.fill_(100.0)
        offsets.continuous.weight.fill_(1.0)
    codes = [torch.tensor([[2], [0]]), torch.tensor([[1], [1]])]
    out = offsets(codes, torch.tensor([[0.5], [0.0]]))
    expected = torch.stack([torch.arange(8.0, 12.0) + 100.5, torch.arange(4.0) + 100.0])
    torch.testing.assert_close(out, expected)


def test_only_new_category_rows_learn():
    offsets = CovariateOffsets(n_output=3, n_cats_per_cov=[4])
    offsets.train_new_categories_only([3])
    out = offsets([torch.tensor([[0], [3], [1]])])
    out.sum().backward()
    grad = offsets.categorical[0].weight.grad
    assert torch.all(grad[:3] == 0) and torch.all(grad[3] == 1)


def test_decoder_output_is_linear_in_z():
    decoder = LinearDecoder(n_latent=2, n_output=5, n_cats_per_cov=[2])
    z = torch.randn(6, 2)
    batch = [torch.zeros(6, 1)]
    logits, zi = decoder(z, batch)
    assert zi is None
    doubled, _ = decoder(2 * z, batch)
    base, _ = decoder(torch.zeros_like(z), batch)
    torch.testing.assert_close(doubled - base, 2 * (logits - base))
    torch.testing.assert_close(logits - base, z @ decoder.factor_loadings.weight.T)
