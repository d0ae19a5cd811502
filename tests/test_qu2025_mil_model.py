"""qu2025_mil model: gated attention by hand, order invariance, losses, a tiny bag model learns."""

import math

import pytest
import torch
from torch import nn

from vfrepro.studies.qu2025_mil import model as M


def _set(lin: nn.Linear, w, b=None):
    with torch.no_grad():
        lin.weight.copy_(torch.tensor(w, dtype=torch.float32))
        lin.bias.copy_(torch.zeros_like(lin.bias) if b is None else torch.tensor(b, dtype=torch.float32))


def test_gated_attention_hand_computed():
    att = M.GatedAttention(2, 2)
    _set(att.V, [[1.0, 0.0], [0.0, 1.0]])
    _set(att.U, [[1.0, 0.0], [0.0, 1.0]])
    _set(att.w, [[2.0, -1.0]])
    h = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])
    # a_k = softmax_k(w^T (tanh(V h_k) * sigmoid(U h_k))); tanh(0) = 0 kills the other unit.
    g = math.tanh(1.0) / (1.0 + math.exp(-1.0))          # 0.55677
    s = [2.0 * g, -1.0 * g, 0.0]
    e = [math.exp(v) for v in s]
    want = [v / sum(e) for v in e]
    got = att(h)[0].tolist()
    assert got == pytest.approx(want, abs=1e-6)
    assert got == pytest.approx([0.6594, 0.1241, 0.2165], abs=1e-3)
    assert att.scores(h)[0].tolist() == pytest.approx(s, abs=1e-6)


def _tiny_backbone():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())


def test_forward_shapes_and_order_invariance():
    torch.manual_seed(0)
    m = M.GatedAttentionMIL(_tiny_backbone(), n_classes=6, feature_dim=16, attn_dim=8, n_super=3,
                            probe_size=(3, 16, 16)).eval()
    x = torch.randn(2, 5, 3, 16, 16)
    out = m(x)
    assert out["bag"].shape == (2, 6) and out["instance_class"].shape == (2, 5, 6)
    assert out["attention"].shape == (2, 5) and out["super"].shape == (2, 3)
    assert torch.allclose(out["attention"].sum(1), torch.ones(2))
    perm = torch.tensor([3, 0, 4, 1, 2])
    out_p = m(x[:, perm])
    assert torch.allclose(out["bag"], out_p["bag"], atol=1e-5)
    assert torch.allclose(out["super"], out_p["super"], atol=1e-5)
    assert torch.allclose(out["attention"][:, perm], out_p["attention"], atol=1e-6)
    assert torch.allclose(out["instance_class"][:, perm], out_p["instance_class"], atol=1e-5)
    with pytest.raises(ValueError, match="B, N, C, H, W"):
        m(x[0])


def test_backbone_giving_vectors_and_alexnet_features():
    m = M.GatedAttentionMIL(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10)), n_classes=2,
                            feature_dim=4, attn_dim=3, probe_size=(3, 8, 8))
    assert m(torch.randn(1, 5, 3, 8, 8))["bag"].shape == (1, 2)
    feats, how = M.alexnet_backbone()
    assert how.startswith("random")
    m = M.GatedAttentionMIL(feats, n_classes=6, feature_dim=8, attn_dim=4, probe_size=(3, 64, 64))
    assert m.feature[0].in_features == 256
    assert m(torch.randn(1, 5, 3, 64, 64))["attention"].shape == (1, 5)


def test_losses_per_view_and_both_instance_readings():
    torch.manual_seed(0)
    out = {"bag": torch.randn(2, 6, requires_grad=True),
           "instance_class": torch.randn(2, 5, 6, requires_grad=True),
           "super": torch.randn(2, 3, requires_grad=True)}
    tg = {"bag": torch.tensor([1, 5]), "super": torch.tensor([0, 2]),
          "instance_class": torch.tensor([[1, 5, 5, -1, 1], [5, 5, 5, 5, 5]])}
    loss_s, t_s = M.mil_loss(out, tg, "S")
    assert set(t_s) == {"bag", "instance"}
    loss_z, t_z = M.mil_loss(out, tg, "Z", weights={"bag": 1, "super": 2, "instance": 0})
    assert set(t_z) == {"bag", "instance", "super"}
    assert float(loss_z.detach()) == pytest.approx(t_z["bag"] + 2 * t_z["super"], rel=1e-5)
    _, t_v = M.mil_loss(out, tg, "Z", instance_term="variance")
    p = torch.softmax(out["instance_class"], -1)
    assert t_v["instance"] == pytest.approx(float(p.detach().var(1, unbiased=False).mean()), rel=1e-5)
    same = torch.zeros(2, 5, 6)
    assert float(M.instance_variance(same)) == 0.0
    loss_s.backward()
    # unknown instance labels everywhere: no instance term
    _, t_u = M.mil_loss(out, {**tg, "instance_class": torch.full((2, 5), -1)}, "S")
    assert "instance" not in t_u
    with pytest.raises(ValueError, match="instance_term"):
        M.mil_loss(out, tg, "Z", instance_term="kl")


def _planted(n_bags, gen):
    """Positive bags hold one bright-square instance at a random slot; negatives none."""
    x = torch.rand(n_bags, 5, 3, 12, 12, generator=gen) * 0.3
    y = torch.arange(n_bags) % 2
    where = torch.randint(0, 5, (n_bags,), generator=gen)
    inst = torch.zeros(n_bags, 5, dtype=torch.long)
    for i in range(n_bags):
        if y[i]:
            x[i, where[i], :, 3:9, 3:9] += 0.7
            inst[i, where[i]] = 1
    return x, y, inst


def test_tiny_bag_model_learns_a_planted_instance():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    xtr, ytr, itr = _planted(128, gen)
    xte, yte, ite = _planted(64, gen)
    m = M.GatedAttentionMIL(_tiny_backbone(), n_classes=2, feature_dim=16, attn_dim=8,
                            dropout=0.0, probe_size=(3, 12, 12))
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for epoch in range(6):                                 # the engine adapter replaces this loop
        for b in range(0, 128, 16):
            out = m(xtr[b:b + 16])
            tg = {"bag": ytr[b:b + 16], "instance_class": itr[b:b + 16]}
            loss, _ = M.mil_loss(out, tg, "S", weights={"bag": 1.0, "instance": 0.0})
            opt.zero_grad()
            loss.backward()
            opt.step()
    m.eval()
    with torch.no_grad():
        out = m(xte)
    acc = (out["bag"].argmax(1) == yte).float().mean().item()
    print("planted: bag accuracy", acc)
    assert acc >= 0.9, acc
    pos = yte == 1
    hit = (out["attention"][pos].argmax(1) == ite[pos].argmax(1)).float().mean().item()
    print("planted: attention top-1 on the planted slice", hit)
    assert hit >= 0.8, hit          # attention finds the planted slice without instance labels
