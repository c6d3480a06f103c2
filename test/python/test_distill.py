"""Self-distillation of the diffusion path (train.diffusion_distill, objective.bltd_loss): a masked byte's target
becomes the AR path's own distribution for that byte, so the diffusion loss is minimal exactly where the diffusion
path predicts what AR predicts."""
import numpy as np
import torch

from scripts.train.objective import ar_rows, ar_teacher, bltd_loss

L = 64


def test_teacher_is_the_row_before_the_slot():
    logits = torch.full((1, L, 256), -10.0)
    logits[0, torch.arange(L), torch.arange(L)] = 10.0           # row r puts its mass on byte r
    teacher = ar_teacher(logits, torch.tensor([[5, 9, 1]]))
    assert teacher.argmax(-1).tolist() == [[4, 8, 0]]            # clean row p-1 predicts the byte at p
    assert torch.allclose(teacher.sum(-1), torch.ones(1, 3))


class DiffusionEqualsAR(torch.nn.Module):
    """The real model, with its noisy-block logits replaced by the AR logits for the same bytes plus `delta`:
    at delta = 0 the diffusion path predicts exactly AR's distribution."""

    def __init__(self, model, n_slots):
        super().__init__()
        self.model, self.cfg = model, model.cfg
        self.delta = torch.nn.Parameter(torch.zeros(1, n_slots, 256))

    def forward(self, tokens, is_start, blocks, bound=None):
        out = self.model(tokens, is_start, blocks, bound=bound)
        return {**out, "noisy_logits": ar_rows(out["logits"], blocks.positions) + self.delta}


def diffusion_grad(model, distill):
    torch.manual_seed(0)
    tokens = torch.randint(0, 256, (1, L))
    targets = torch.cat([tokens[:, 1:], torch.randint(0, 256, (1, 1))], 1)
    is_start = model.patch(tokens, with_next=True)
    wrapped = DiffusionEqualsAR(model, model.cfg["diffusion"]["train_slots"])
    loss, stats = bltd_loss(wrapped, tokens, targets, is_start, np.random.default_rng(3), diffusion_weight=1.0,
                            distill=distill)
    loss.backward()
    return wrapped.delta.grad.abs().max().item(), stats


def test_distilled_loss_is_minimal_where_diffusion_predicts_ar(model):
    grad, stats = diffusion_grad(model, 1.0)
    assert grad < 1e-6                                           # nothing left to learn: it already predicts AR
    assert stats["diff_agree_ar"] == 1.0
    hard, _ = diffusion_grad(model, 0.0)                         # the paper's loss still pulls towards the data
    assert hard > 1e-3
