"""Several memory policies at once (``memory_policy: {name: "rcms+samurai", ...}``).

:class:`ComposedPolicy` calls its members in order at the frame hook, so a later member sees the
earlier ones' decisions; at most one may plan memory reads, at most one may move the presence
threshold, and a policy with memory hypotheses composes with nothing. :func:`split_params` routes
``"<member>.<param>"`` (or ``"<param>"`` when only one member has it) to its member.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

from sam2.video.policies.base import FrameDecision, MemoryPolicy

__all__ = ["ComposedPolicy", "split_params"]


#: pairs of policies whose ideas are not independent, and why
_CLASHES = {
    frozenset({"samurai", "dam4sam"}): (
        "SAMURAI and DAM4SAM both decide which tracked frames are read as memory (motion-valid "
        "frames vs. RAM/DRM); only one can plan the memory reads"),
    frozenset({"rcms", "sam2long"}): (
        "SAM2Long keeps several memories per object (pathways), each with its own mask on every "
        "tracked frame; RCMS promotes stored frames into the object's one conditioning memory, "
        "judged by one output's quality, so a promoted frame would force one pathway's mask on "
        "all of them (both ideas decide what the memory holds after a failure)"),
    frozenset({"samurai", "sam2long"}): (
        "SAMURAI and SAM2Long both choose the output among the candidates (motion score vs. "
        "pathway score) and both plan the memory reads"),
    frozenset({"dam4sam", "sam2long"}): (
        "DAM4SAM and SAM2Long both plan the memory reads (RAM/DRM vs. each pathway's valid frames)"),
}


def _why_not(names: Sequence[str]) -> str:
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            why = _CLASHES.get(frozenset({a, b}))
            if why:
                return why
    return ""


class ComposedPolicy(MemoryPolicy):
    """Members called in order; per-object state is the tuple of the members' states."""

    def __init__(self, members: Sequence[MemoryPolicy]) -> None:
        if len(members) < 2:
            raise ValueError("a composed memory policy needs at least two members")
        names = [m.name for m in members]
        if len(set(names)) != len(names):
            raise ValueError(f"memory policy {'+'.join(names)}: a policy appears twice")
        why = _why_not(names)
        for m in members:
            if not why and getattr(m, "keeps_hypotheses", False):
                why = (f"{m.name} keeps several memory hypotheses per object (pathways); the other "
                       "members' decisions would apply to one hypothesis only")
        planners = [m.name for m in members if m.plans_reads]
        if not why and len(planners) > 1:
            why = f"{' and '.join(planners)} all plan the memory reads; only one can"
        thresholds = {m.name: m.presence_threshold for m in members if m.presence_threshold != 0.0}
        if not why and len(thresholds) > 1:
            why = f"{' and '.join(thresholds)} each move the decoder's presence threshold"
        if why:
            raise ValueError(f"memory policy {'+'.join(names)} cannot be composed: {why}")
        self.members = list(members)
        self.name = "+".join(names)
        self.presence_threshold = next(iter(thresholds.values()), 0.0)
        self._planner = next((m for m in members if m.plans_reads), None)

    def describe(self) -> str:
        return " + ".join(m.describe() for m in self.members)

    def new_object_state(self) -> Tuple[Any, ...]:
        return tuple(m.new_object_state() for m in self.members)

    def on_frame(self, object_state: Tuple[Any, ...], decision: FrameDecision) -> None:
        for member, state in zip(self.members, object_state):
            member.on_frame(state, decision)

    def frames_to_retain(self, object_state: Tuple[Any, ...], bank) -> List[int]:
        keep: set = set()
        for member, state in zip(self.members, object_state):
            keep.update(member.frames_to_retain(state, bank))
        return sorted(keep)

    @property
    def plans_reads(self) -> bool:
        return self._planner is not None

    def select_memory(self, object_state, frame_idx, reverse, selection, memory, window):
        for member, state in zip(self.members, object_state):
            if member is self._planner:
                return member.select_memory(state, frame_idx, reverse, selection, memory, window)
        return selection

    def memory_selector(self, object_state):
        if self._planner is None:
            return None
        return lambda *args: self.select_memory(object_state, *args)

    def records(self, object_state: Tuple[Any, ...]) -> List[dict]:
        out: List[dict] = []
        for member, state in zip(self.members, object_state):
            out.extend(dict(r, policy=member.name) for r in member.records(state))
        return out

    def forget(self, object_state: Tuple[Any, ...], is_gone: Callable[[int], bool]) -> None:
        for member, state in zip(self.members, object_state):
            member.forget(state, is_gone)

    def member_state(self, object_state: Tuple[Any, ...], name: str) -> Any:
        """The per-object state of member ``name`` (e.g. ``"rcms"``)."""
        for member, state in zip(self.members, object_state):
            if member.name == name:
                return state
        raise KeyError(f"{self.name}: no member {name!r}")


def split_params(names: Sequence[str], params: Mapping[str, Any],
                 accepts: Mapping[str, Iterable[str]]) -> Dict[str, Dict[str, Any]]:
    """Distribute ``params`` over members: ``"member.key"`` goes to that member; a bare
    ``"key"`` to the one member that accepts it (ambiguous or unknown keys are errors)."""
    out: Dict[str, Dict[str, Any]] = {n: {} for n in names}
    for key, value in params.items():
        if "." in key:
            member, sub = key.split(".", 1)
            if member not in out:
                raise ValueError(f"memory policy {'+'.join(names)}: parameter {key!r} names no member")
            out[member][sub] = value
            continue
        owners = [n for n in names if key in set(accepts.get(n, ()))]
        if len(owners) != 1:
            what = "is accepted by several members" if owners else "is accepted by no member"
            raise ValueError(
                f"memory policy {'+'.join(names)}: parameter {key!r} {what}; write it as "
                f"'<member>.{key}' ({', '.join(names)})")
        out[owners[0]][key] = value
    return out
