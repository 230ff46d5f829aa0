"""MemoryBank: move semantics, read window and eviction rules."""
from __future__ import annotations

import torch

from sam2.modeling.track_types import FrameOutput
from sam2.video.memory.memory_bank import MemoryBank, ReadWindow


def _out(value: float = 1.0) -> FrameOutput:
    return FrameOutput(pred_masks=torch.full((1, 1, 4, 4), value), obj_ptr=torch.zeros(1, 8),
                       object_score_logits=torch.ones(1, 1))


def test_read_window_of_sam2_1_defaults():
    # 7 memories, stride 1: spatial reach 6 (+1 margin); 16 pointers -> pointer reach 16
    assert ReadWindow.for_model(7, 1, True, 16).reach == 16
    assert ReadWindow.for_model(7, 1, False, 16).reach == 7
    assert ReadWindow.for_model(7, 3, False, 16).reach == 19
    # short videos cap the pointer window
    assert ReadWindow.for_model(3, 1, True, 16, num_frames=5).reach == 5


def test_eviction_forward_keeps_window_cond_neighbourhood_and_policy_frames():
    bank = MemoryBank(ReadWindow(reach=3))
    bank.put(0, _out(), is_cond=True)
    for t in range(1, 20):
        bank.put(t, _out(), is_cond=False)
    dropped = bank.evict(19, reverse=False, keep=[8])
    # kept: within 3 of the prompt (1..3), the window 16..18 (+19), and the policy's 8
    assert sorted(bank.non_cond) == [1, 2, 3, 8, 16, 17, 18, 19]
    assert sorted(dropped) == [4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]
    assert bank.num_evicted == len(dropped)
    assert 0 in bank.cond  # conditioning frames are never evicted


def test_eviction_reverse_drops_frames_behind_in_time_order():
    bank = MemoryBank(ReadWindow(reach=2))
    bank.put(20, _out(), is_cond=True)
    for t in range(5, 20):
        bank.put(t, _out(), is_cond=False)
    bank.evict(5, reverse=True)
    # frames 6, 7 are in the window behind frame 5 (reverse), 18, 19 next to the prompt
    assert sorted(bank.non_cond) == [5, 6, 7, 18, 19]


def test_eviction_off_keeps_everything():
    bank = MemoryBank(ReadWindow(reach=1), memory_eviction="off")
    for t in range(10):
        bank.put(t, _out(), is_cond=False)
    assert bank.evict(9, reverse=False) == []
    assert len(bank.non_cond) == 10


def test_promote_moves_and_demote_restores():
    bank = MemoryBank(ReadWindow(reach=1))
    entry = _out(2.0)
    bank.put(4, entry, is_cond=False)
    assert bank.promote(4) is entry
    assert 4 not in bank.non_cond and bank.cond[4] is entry
    assert bank.demote(4) is entry
    assert 4 in bank.non_cond and 4 not in bank.cond
    bank.put(4, entry, is_cond=True)
    assert 4 not in bank.non_cond  # a frame is never both
