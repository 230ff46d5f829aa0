"""Memory policies: what an object's memory keeps, and which decoder candidate becomes the output.

The contract
------------
A policy has a few entry points (``docs/design.md`` lists who calls each): the per-object state
(:meth:`MemoryPolicy.new_object_state`), the read plan (:meth:`MemoryPolicy.select_memory`) and
the decoder presence threshold (:attr:`MemoryPolicy.presence_threshold`), which the step passes
to the model as arguments of ``track_step`` (the model holds no policy), the frame decision
(:meth:`MemoryPolicy.on_frame`), what eviction must keep (:meth:`MemoryPolicy.frames_to_retain`),
memory hypotheses (``keeps_hypotheses``), forgetting (:meth:`MemoryPolicy.forget`) and records.

The frame decision: the video predictor's per-frame step
(:meth:`~sam2.video.frame_step.FrameStepMixin.track_frame`) calls
:meth:`MemoryPolicy.on_frame` for every object on every *tracked* (not prompted) frame. At that
point the decoder has run, nothing of the frame has been memory-encoded or stored, and the
policy gets a :class:`FrameDecision`:

* ``decision.candidates`` - every mask the decoder proposed (``[1, M, h, w]`` logits), their
  predicted IoUs ``[1, M]``, the object-score logit ``[1, 1]`` and which one the decoder chose
  (highest IoU); ``decision.output`` - the chosen candidate as it will be stored (hole-filled
  low-res logits, object pointer, object score, IoUs, MQF ``quality``);
* ``decision.choose(k)`` - (b) make candidate ``k`` the output *and* the memory of this frame
  (mask, object pointer from its token, quality); ``decision.output`` follows;
* ``decision.admit = False`` - (c) keep the frame as an output and pointer, but do not store its
  mask memory (memory attention then skips it);
* ``decision.bank`` - (d) the object's :class:`~sam2.video.memory_bank.MemoryBank`: promote
  earlier tracked frames to conditioning frames (``bank.promote``), drop promoted ones
  (``bank.drop_cond``); the current frame enters the bank right after the hook.

After the hook the step encodes the chosen mask into memory (when admitted), stores the frame
in the bank, and evicts what the read window no longer needs except the frames the policy
names in :meth:`MemoryPolicy.frames_to_retain`. Prompted frames never reach the hook.

A policy with ``keeps_hypotheses`` (SAM2Long) keeps several memories per object
(:mod:`sam2.video.hypotheses`): the step runs each live hypothesis with its own read plan and
the hook sees all of them (``decision.hypotheses``, ``decision.hypothesis_candidates``);
``decision.keep`` - (g) - says which (hypothesis, candidate) pairs survive, each stored as a
variant of the frame. ``admit`` and ``promote_current`` do not apply to such frames.

A refused frame (``admit = False``) leaves its recent-memory slot empty: the model reads the
fixed slots of :meth:`~sam2.modeling.read_window.ReadWindow.mask_slots`. A policy that wants
the slots filled from admitted frames only, further back (as SAMURAI selects its memory), needs
that rule in the read window (the one place the model, the bank and eviction ask), not in a
second code path. Batching is unaffected: objects whose stored frames differ in admission run
separately (``MemoryBank.read_layout``).

Per-object policy state lives in the object's track (``ObjectTrack.policy_state``), created by
:meth:`MemoryPolicy.new_object_state`, so ``reset_state`` / ``init_state`` clear it. What a
policy did is read generically with :meth:`MemoryPolicy.records` (per object, a list of
JSON-ready dicts); ``InferenceState.policy_records()`` collects them.

Policies by name
----------------
:func:`make_policy` builds a policy from its registered name and parameters; the model config's
``memory_policy: {name, params}`` block and ``build_sam2_video_predictor(memory_policy=...)``
go through it. Registered here: ``"sam2.1"`` (:class:`PlainSAM2Policy`, the default),
``"rcms"`` (:class:`sam2.video.rcms.RCMSPolicy`), ``"samurai"``
(:class:`sam2.video.samurai.SamuraiPolicy`), ``"dam4sam"``
(:class:`sam2.video.dam4sam.Dam4SamPolicy`) and ``"sam2long"``
(:class:`sam2.video.sam2long.Sam2LongPolicy`); names joined by ``+`` compose
(:class:`ComposedPolicy`: members called in order at the hook, so a later member sees the
earlier ones' decisions; at most one may plan memory reads, at most one may move the
presence threshold, a policy with memory hypotheses composes with nothing; parameters of a
member are ``"<member>.<param>"``, or ``"<param>"`` when only one member has it). Add one with
:func:`register_policy`.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from sam2.modeling.track_types import FrameOutput, MaskCandidates
from sam2.video.memory_bank import MemoryBank

__all__ = [
    "FrameDecision", "MemoryPolicy", "PlainSAM2Policy", "ComposedPolicy", "split_params",
    "register_policy", "make_policy", "policy_names", "resolve_policy", "parse_policy_spec", "PolicySpec",
    "RCMS_SETTINGS",
]


@dataclass
class FrameDecision:
    """One object on one tracked frame, as the policy sees it (see the module docstring).

    Attributes:
        frame_idx: the frame being tracked.
        reverse: whether the propagation runs backwards in time.
        candidates: every decoder candidate (batch of 1).
        bank: this object's memory (the current frame is not in it yet).
        admit: whether the frame's mask memory is stored (default ``True``).
        promote_current: make the frame a conditioning frame right after it is stored.
        video_size: ``(H, W)`` of the video.
    """

    frame_idx: int
    reverse: bool
    candidates: MaskCandidates
    bank: MemoryBank
    admit: bool = True
    #: (e) make this frame a conditioning frame once stored (DAM4SAM's anchors)
    promote_current: bool = False
    #: ``(height, width)`` of the video (to look at candidates at video resolution)
    video_size: Optional[Tuple[int, int]] = None
    #: (g) memory hypotheses run on this frame (policies with ``keeps_hypotheses``): the
    #: object's live hypotheses, best first (:class:`~sam2.video.hypotheses.Hypothesis`;
    #: ``[None]`` on the first tracked frame of a propagation), and each one's candidates
    #: (``candidates`` is the first one's)
    hypotheses: Optional[List[Any]] = None
    hypothesis_candidates: Optional[List[MaskCandidates]] = None
    _output: FrameOutput = field(repr=False, default=None)
    _build: Optional[Callable[[int], FrameOutput]] = field(repr=False, default=None)
    _choice: Optional[int] = field(repr=False, default=None)
    _survivors: Optional[List[Tuple[int, int, Dict[str, Any]]]] = field(repr=False, default=None)

    @property
    def output(self) -> FrameOutput:
        """The chosen candidate as it will be stored: ``pred_masks`` ``[1, 1, h, w]`` (storage
        device), ``obj_ptr`` ``[1, C]``, ``object_score_logits`` ``[1, 1]``, ``ious`` ``[1, M]``,
        ``quality`` ``[1]``; no memory features yet."""
        return self._output

    @property
    def chosen(self) -> Optional[int]:
        """The candidate index set with :meth:`choose`, or ``None`` (the decoder's choice)."""
        return self._choice

    def choose(self, index: int) -> None:
        """Make candidate ``index`` (``0 .. M - 1``) this frame's output and memory."""
        m = self.candidates.num_candidates
        if not 0 <= int(index) < m:
            raise IndexError(f"frame {self.frame_idx}: candidate {index} of {m}")
        self._choice = int(index)
        self._output = self._build(int(index))

    @property
    def survivors(self) -> Optional[List[Tuple[int, int, Dict[str, Any]]]]:
        """What :meth:`keep` set, or ``None``."""
        return self._survivors

    def keep(self, survivors: Sequence[Tuple[int, int, Mapping[str, Any]]]) -> None:
        """(g) The hypotheses that live on after this frame, best first.

        Each survivor is ``(h, j, data)``: candidate ``j`` of hypothesis ``h`` (an index into
        :attr:`hypotheses`), and the policy's values for the new hypothesis. Every distinct
        ``(h, j)`` is memory-encoded and stored as one variant of the frame (in order: the
        first survivor is the frame's output); repeating a pair makes several live
        hypotheses share one memory (run once).
        """
        if self.hypothesis_candidates is None:
            raise RuntimeError(f"frame {self.frame_idx}: keep() needs a policy with memory hypotheses")
        if not survivors:
            raise ValueError(f"frame {self.frame_idx}: at least one hypothesis must survive")
        out = []
        for h, j, data in survivors:
            if not 0 <= int(h) < len(self.hypothesis_candidates):
                raise IndexError(f"frame {self.frame_idx}: hypothesis {h} of {len(self.hypothesis_candidates)}")
            m = self.hypothesis_candidates[int(h)].num_candidates
            if not 0 <= int(j) < m:
                raise IndexError(f"frame {self.frame_idx}: candidate {j} of {m}")
            out.append((int(h), int(j), dict(data)))
        self._survivors = out


class MemoryPolicy(ABC):
    """Interface of a memory policy (see the module docstring for the call point)."""

    #: registry name, used in logs and records
    name: str = "policy"

    @abstractmethod
    def new_object_state(self) -> Any:
        """Fresh per-object state (stored in the object's track)."""

    @abstractmethod
    def on_frame(self, object_state: Any, decision: FrameDecision) -> None:
        """Called once per object on every tracked frame, before memory encoding.

        Args:
            object_state: this object's policy state.
            decision: the frame's candidates, chosen output, memory bank and admission flag.
        """

    def frames_to_retain(self, object_state: Any, bank: MemoryBank) -> Iterable[int]:
        """Tracked frames the policy may still need (kept by eviction)."""
        return ()

    #: object-score logit above which the decoder counts the object as present (SAM 2: 0)
    presence_threshold: float = 0.0

    #: whether the policy keeps memory hypotheses per object (SAM2Long's pathways; see
    #: :mod:`sam2.video.hypotheses`): the step then runs every live hypothesis with its own
    #: read plan (``select_memory(..., hypothesis=node)``) and the policy says which survive
    #: with :meth:`FrameDecision.keep`; ``hypotheses`` is how many it keeps
    keeps_hypotheses: bool = False
    hypotheses: int = 1

    def select_memory(self, object_state: Any, frame_idx: int, reverse: bool, selection: Any,
                      memory: Any, window: Any) -> Any:
        """(f) The read plan: which stored frames ``frame_idx`` attends to.

        Called by the model before memory attention on every non-initial frame of the object
        (prompts included), with SAM 2's choice ``selection``
        (:class:`~sam2.modeling.sam2_memory.MemorySelection`: spatial memories with their
        temporal slots, object pointers with their distances), the object's
        :class:`~sam2.modeling.track_types.TrackMemory` and the model's
        :class:`~sam2.modeling.read_window.ReadWindow`. Return the selection to use. The
        default keeps SAM 2's choice; a policy that overrides it is run one object at a time
        and must name the older frames it reads in :meth:`frames_to_retain`.
        """
        return selection

    @property
    def plans_reads(self) -> bool:
        """Whether the policy rewrites memory reads (overrides :meth:`select_memory`)."""
        return type(self).select_memory is not MemoryPolicy.select_memory

    def memory_selector(self, object_state: Any, hypothesis: Any = None) -> Optional[Callable[..., Any]]:
        """The read plan of one object, bound to its state (``None`` without one); with memory
        hypotheses, bound to one of them (passed as ``select_memory(..., hypothesis=...)``)."""
        if not self.plans_reads:
            return None
        if self.keeps_hypotheses:
            return lambda *args: self.select_memory(object_state, *args, hypothesis=hypothesis)
        return lambda *args: self.select_memory(object_state, *args)

    def records(self, object_state: Any) -> List[dict]:
        """What the policy decided for one object so far (JSON-ready dicts)."""
        return []

    def forget(self, object_state: Any, is_gone: Callable[[int], bool]) -> None:
        """Drop per-frame bookkeeping of every frame ``t`` with ``is_gone(t)``: frames that have
        left the object's memory and lie behind its read window, so no later step reads them
        (called by streams, whose state must not grow with the frame count). The default
        keeps nothing per frame."""

    def describe(self) -> str:
        return self.name


class PlainSAM2Policy(MemoryPolicy):
    """Plain SAM2.1: every tracked frame enters memory with the decoder's choice; the
    conditioning memory only ever holds prompted frames."""

    name = "sam2.1"

    def new_object_state(self) -> None:
        return None

    def on_frame(self, object_state: Any, decision: FrameDecision) -> None:
        return None


# ----------------------------------------------------------------------------------------
# composition: several memory policies at once ("rcms+samurai")
# ----------------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------------
# registry
# ----------------------------------------------------------------------------------------
#: name -> policy class, or "module:Class" imported on first use
_REGISTRY: Dict[str, Union[str, Callable[..., MemoryPolicy]]] = {
    "sam2.1": PlainSAM2Policy,
    "rcms": "sam2.video.rcms:RCMSPolicy",
    "samurai": "sam2.video.samurai:SamuraiPolicy",
    "dam4sam": "sam2.video.dam4sam:Dam4SamPolicy",
    "sam2long": "sam2.video.sam2long:Sam2LongPolicy",
}

#: what ``memory_policy=`` accepts: a name, ``{"name": ..., "params": {...}}``, or a policy
PolicySpec = Union[None, str, Mapping[str, Any], MemoryPolicy]


def register_policy(name: str, factory: Union[str, Callable[..., MemoryPolicy]]) -> None:
    """Register a policy class (or ``"module:Class"``) under ``name``."""
    _REGISTRY[name] = factory


def policy_names() -> List[str]:
    return sorted(_REGISTRY)


def _factory(name: str) -> Callable[..., MemoryPolicy]:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"unknown memory policy {name!r}; known policies: {', '.join(policy_names())}"
        ) from None
    if isinstance(factory, str):
        module, _, attr = factory.partition(":")
        factory = getattr(importlib.import_module(module), attr)
        _REGISTRY[name] = factory
    return factory


def make_policy(name: str, params: Optional[Mapping[str, Any]] = None) -> MemoryPolicy:
    """Build the registered policy ``name`` with keyword ``params``; errors name the policy."""
    factory = _factory(name)
    try:
        return factory(**dict(params or {}))
    except TypeError as err:
        raise TypeError(f"memory policy {name!r}: bad parameters {dict(params or {})}: {err}") from err


#: the ``"rcms"`` policy's parameters (also accepted as arguments of their own by the builder
#: and the predictor, and in the older ``rcms:`` block of a config; see
#: :mod:`sam2.video.settings`)
RCMS_SETTINGS = (
    "num_prev_frames_to_promote", "low_quality_threshold", "rearm_after_present_frames",
    "max_promoted_frames",
)


def parse_policy_spec(spec: Union[str, Mapping[str, Any]], what: str = "memory_policy"
                      ) -> Tuple[str, Dict[str, Any]]:
    """``"name"`` or ``{"name": ..., "params": {...}}`` -> ``(name, params)``; errors name ``what``."""
    if isinstance(spec, str):
        return spec, {}
    if not isinstance(spec, Mapping):
        raise TypeError(f"{what} must be a name, a mapping or a MemoryPolicy, got {type(spec).__name__}")
    if "name" not in spec:
        raise ValueError(f"{what} {dict(spec)!r} has no 'name'; known: {', '.join(policy_names())}")
    unknown = set(spec) - {"name", "params"}
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)} (expected 'name' and 'params')")
    return str(spec["name"]), dict(spec.get("params") or {})


def resolve_policy(spec: PolicySpec, rcms: Optional[Mapping[str, Any]] = None) -> MemoryPolicy:
    """The policy named by ``spec``.

    Args:
        spec: a policy instance (returned as is), a registered name, or
            ``{"name": ..., "params": {...}}``; ``None`` means ``"sam2.1"``.
        rcms: defaults of the ``"rcms"`` member's parameters (:data:`RCMS_SETTINGS`; unused
            when the policy has no ``rcms`` member); ``params`` given in ``spec`` win over them,
            :class:`~sam2.video.rcms.RCMSPolicy`'s own defaults fill the rest.

    The name is never changed: ``"sam2.1"`` is plain SAM 2.1 whatever ``rcms`` holds. RCMS with
    ``num_prev_frames_to_promote = 0`` is plain SAM 2.1 (bit for bit), so it resolves to
    :class:`PlainSAM2Policy` (and drops out of a composition).
    """
    if isinstance(spec, MemoryPolicy):
        return spec
    name, params = ("sam2.1", {}) if spec is None else parse_policy_spec(spec)
    if "+" in name:
        return _compose(name, params, rcms)
    if name == "rcms":
        merged = {k: v for k, v in dict(rcms or {}).items() if k in RCMS_SETTINGS}
        merged.update(params)
        policy = make_policy("rcms", merged)
        return PlainSAM2Policy() if getattr(policy, "num_prev_frames_to_promote", 1) == 0 else policy
    return make_policy(name, params)


def _accepted_params(name: str) -> List[str]:
    import inspect

    factory = _factory(name)
    target = factory.__init__ if isinstance(factory, type) else factory
    return [p for p in inspect.signature(target).parameters if p != "self"]


def _compose(name: str, params: Mapping[str, Any], rcms: Optional[Mapping[str, Any]]) -> MemoryPolicy:
    """``"a+b"``: the members resolved one by one (RCMS with its settings), then composed."""
    names = [n.strip() for n in name.split("+") if n.strip()]
    for n in names:
        _factory(n)  # unknown names fail here, naming the known policies
    per_member = split_params(names, params, {n: _accepted_params(n) for n in names})
    members = [resolve_policy({"name": n, "params": per_member[n]}, rcms) for n in names]
    members = [m for m in members if not isinstance(m, PlainSAM2Policy)]  # RCMS with N = 0 is a no-op
    if len(members) == 1:
        return members[0]
    return ComposedPolicy(members)
