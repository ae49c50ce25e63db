"""Segment batching (shared/ml/segments.py): the plan, the batches, and eval-mode exactness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shared.labels import DOWN, UP
from shared.ml.augment import Augment
from shared.ml.model import DeepLOB, DeepLOBConfig
from shared.ml.segments import SegmentBatches, plan, segment_length, segment_logits
from shared.ml.windows import gather, window_view
from shared.scaler import Scaler
from tests.support.trainkit import make_book


@pytest.mark.parametrize("stride", [1, 10])
def test_plan_trains_every_end_once_and_reads_no_other_row(stride):
    # Given training ends with a gap (rows 500..509 left out) and a run shorter than a segment
    ends = np.concatenate([np.arange(99, 500), np.arange(510, 900), np.arange(950, 955)])
    for seed in range(5):
        pieces = plan(ends, 16, np.random.default_rng(seed), stride)

        # Then every end is kept exactly once, and every window a segment reads is a training end
        kept = np.concatenate(
            [np.arange(p.keep_from, p.keep_to) * stride + p.start for p in pieces]
        )
        assert np.array_equal(np.sort(kept), ends)
        read = np.concatenate([np.arange(p.length) * stride + p.start for p in pieces])
        assert np.isin(read, ends).all()
        # Full segments, except for runs too short for one
        assert max(p.length for p in pieces) == 16
        assert {p.length for p in pieces if p.start >= 950} == {1 if stride == 10 else 5}
    # And the order is shuffled, differently for each epoch's generator
    a = [p.start for p in plan(ends, 16, np.random.default_rng(0))]
    b = [p.start for p in plan(ends, 16, np.random.default_rng(1))]
    assert a != sorted(a) and a != b


@pytest.mark.parametrize("stride", [1, 10])
def test_batches_hold_the_segments_rows_and_the_kept_windows_labels(stride):
    feats = make_book(1_200, seed=3)
    labels = np.random.default_rng(0).integers(0, 3, 1_200).astype(np.int8)
    ends = np.arange(99, 1_100)
    scaler = Scaler.fit_windows(feats, ends, 100, kind="mid_bps")
    sb = SegmentBatches(feats, labels, scaler, batch_size=64, stride=stride)
    assert sb.length == segment_length(64)
    batches = sb.epoch(ends, np.random.default_rng(0))
    view = window_view(feats)
    seen = []
    for pieces, batch in zip(batches, sb.batches(batches), strict=True):
        length = pieces[0].length
        assert batch.x.shape == (len(pieces), 1, (length - 1) * stride + 100, 40)
        assert batch.size == batch.y.shape[0] == batch.keep.shape[0] == batch.groups.shape[0]
        assert batch.size <= 64
        for i, (w, g) in enumerate(zip(batch.keep.tolist(), batch.groups.tolist(), strict=True)):
            seg, j = divmod(w, length)
            assert seg == g
            end = pieces[seg].start + j * stride
            seen.append(end)
            assert batch.y[i] == labels[end]
            # the window's rows inside its segment are the scaled window itself
            want = gather(view, np.array([end]), scaler)[0]
            got = batch.x[seg, 0, j * stride : j * stride + 100].numpy()
            np.testing.assert_allclose(got, want, rtol=0, atol=0)
    assert sorted(seen) == ends.tolist()


@pytest.mark.parametrize(("length", "stride"), [(1, 1), (7, 1), (16, 1), (4, 10)])
def test_eval_mode_segment_logits_equal_the_per_window_model(length, stride):
    # Given a trained-looking DeepLOB (BatchNorm running statistics off their defaults)
    torch.manual_seed(0)
    model = DeepLOB(DeepLOBConfig(dropout_lstm=0.3, dropout_head=0.3))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    model.eval()
    rows = torch.randn(3, 1, (length - 1) * stride + 100, 40)

    # When three segments go through the shared path, and their windows one by one
    with torch.no_grad():
        shared = segment_logits(model, rows, length, stride=stride)
        windows = torch.stack(
            [rows[k, :, j * stride : j * stride + 100] for k in range(3) for j in range(length)]
        )  # (3·length, 1, 100, 40), segment-major
        each = model(windows)

    # Then the logits agree within 1e-5, and `keep` picks rows of the same order
    assert shared.shape == (3 * length, 3)
    assert (shared - each).abs().max().item() < 1e-5
    keep = torch.tensor([0, 3 * length - 1])
    picked = segment_logits(model, rows, length, keep, stride)
    assert (picked - each[keep]).abs().max().item() < 1e-5
    every = segment_logits(model, rows, length, torch.arange(3 * length), stride)
    assert (every - each).abs().max().item() < 1e-5


def test_training_mode_inception_batch_statistics_are_the_per_window_models():
    # Given two copies of a model in training mode, their conv blocks frozen in eval mode (whose
    # BatchNorm statistics segments do change: they see each row once, not once per window)
    torch.manual_seed(0)
    a = DeepLOB()
    b = DeepLOB()
    b.load_state_dict(a.state_dict())
    for m in (a, b):
        m.train()
        for block in (m.conv1, m.conv2, m.conv3):
            block.eval()
    rows = torch.randn(3, 1, 5 * 10 + 100, 40)
    keep = torch.tensor([0, 2, 3, 5, 7, 11, 12, 17])

    # When one sees the windows through the shared path and the other one by one
    shared = segment_logits(a, rows, 6, keep, stride=10)
    windows = torch.stack([rows[k, :, j * 10 : j * 10 + 100] for k in range(3) for j in range(6)])
    each = b(windows[keep])

    # Then the logits, the gradients and the inception's running statistics agree
    assert (shared - each).abs().max().item() < 1e-4
    shared.sum().backward()
    each.sum().backward()
    for (name, pa), pb in zip(a.named_parameters(), b.parameters(), strict=True):
        # float32 sums in another order: compare against the gradient's own scale
        assert (pa.grad - pb.grad).abs().max() <= 5e-4 + 1e-3 * pb.grad.abs().max(), name
    for (name, ba), bb in zip(a.named_buffers(), b.buffers(), strict=True):
        assert torch.allclose(ba.float(), bb.float(), rtol=1e-4, atol=1e-6), name


def test_training_mode_gradients_reach_every_weight():
    torch.manual_seed(0)
    model = DeepLOB().train()
    logits = segment_logits(model, torch.randn(4, 1, 16 + 99, 40), 16)
    torch.nn.functional.cross_entropy(logits, torch.randint(0, 3, (64,))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_mirror_flips_whole_segments():
    feats = make_book(400, seed=1).astype(np.float64)
    scaler = Scaler.fit(feats, 0, 400, kind="mid_bps")
    augment = Augment.build(scaler, mirror=True, noise=0.0, device=torch.device("cpu"))
    assert augment is not None
    x = torch.randn(6, 1, 20, 40)
    groups = torch.arange(6).repeat_interleave(5)  # 5 windows per segment
    y = torch.full((30,), UP)
    gen = torch.Generator().manual_seed(0)
    x2, y2 = augment(x, y, gen, groups)
    flipped = ~torch.isclose(x2, x).all(dim=(1, 2, 3))  # (6,) which segments were mirrored
    assert 0 < int(flipped.sum()) < 6
    assert torch.equal(y2 == DOWN, flipped[groups])


def test_evaluation_over_segments_equals_evaluation_over_windows():
    # Given validation ends with a gap, and a model with non-default BatchNorm statistics
    from shared.ml.losses import FocalLoss
    from shared.ml.runtime import Runtime, Stepper
    from shared.ml.windows import WindowBatches

    feats = make_book(1_500, seed=4)
    labels = np.random.default_rng(1).integers(0, 3, 1_500).astype(np.int8)
    ends = np.concatenate([np.arange(99, 700), np.arange(720, 1_400)])
    scaler = Scaler.fit_windows(feats, ends, 100, kind="mid_bps")
    torch.manual_seed(0)
    model = DeepLOB()
    model.train()
    with torch.no_grad():  # a few training-mode passes move the running statistics
        for _ in range(3):
            model(torch.randn(16, 1, 100, 40))
    cpu = Runtime(torch.device("cpu"), amp=False, compile=False, channels_last=False, threads=1)
    stepper = Stepper(model, None, FocalLoss(2.0, np.ones(3)), cpu)

    # When the same rows are scored window by window and segment by segment (in order)
    sb = SegmentBatches(feats, labels, scaler, batch_size=256)
    seg_loss, seg_probs, seg_true = stepper.evaluate(sb.batches(sb.epoch(ends, None)))
    wb = WindowBatches(feats, labels, scaler, batch_size=256)
    win_loss, win_probs, win_true = stepper.evaluate(wb.batches(ends))

    # Then the rows come in the same order with the same probabilities and loss
    assert np.array_equal(seg_true, win_true) and seg_true.shape == ends.shape
    assert np.abs(seg_probs - win_probs).max() < 1e-5
    assert abs(seg_loss - win_loss) < 1e-5
