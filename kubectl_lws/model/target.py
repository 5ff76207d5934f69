"""What a user names on the command line: an LWS or a DisaggregatedSet, as kubectl spells kinds.

``ds/NAME``, ``disaggregatedset/NAME`` and ``disaggregatedsets.disaggregatedset.x-k8s.io/NAME`` name a
DisaggregatedSet; ``lws/NAME``, ``leaderworkerset/NAME`` (and the full resource names) and a bare
``NAME`` name a LeaderWorkerSet. The kind part is matched without regard to case, as kubectl's REST
mapper does (``DisaggregatedSet/x`` works too). Anything else is a usage error (exit 2) before a
request is built. Pure: every command parses its NAME argument through ``options.TARGET``.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubectl_lws.errors import UsageError
from kubectl_lws.model import keys

LWS = "lws"
DS = "ds"


def _spellings(short: str, singular: str, plural: str, group: str, version: str) -> set[str]:
    """kubectl's ways of writing one resource: short name, singular, plural, ``plural.group``,
    ``plural.version.group`` (and the same with the singular)."""
    out = {short, singular, plural}
    for word in (singular, plural):
        out |= {f"{word}.{group}", f"{word}.{version}.{group}"}
    return out


_KINDS: dict[str, str] = {
    **{s: DS for s in _spellings("ds", "disaggregatedset", keys.DS_PLURAL, keys.DS_GROUP, keys.DS_VERSION)},
    **{s: LWS for s in _spellings("lws", "leaderworkerset", keys.LWS_PLURAL, keys.LWS_GROUP, keys.LWS_VERSION)},
}
# Kinds a user may reach for that are not addressable here, with where to go instead.
_ELSEWHERE = {
    "dsrs": "a DisaggregatedSetRoleScaler is scaled through its set: kubectl lws scale ds/NAME --role ROLE --replicas N",
    "disaggregatedsetrolescaler": "a DisaggregatedSetRoleScaler is scaled through its set: "
                                  "kubectl lws scale ds/NAME --role ROLE --replicas N",
    "disaggregatedsetrolescalers": "a DisaggregatedSetRoleScaler is scaled through its set: "
                                   "kubectl lws scale ds/NAME --role ROLE --replicas N",
}


@dataclass(frozen=True)
class Target:
    """A parsed NAME argument: ``kind`` is ``lws`` or ``ds``; ``typed`` is what the user wrote."""

    kind: str
    name: str
    typed: str = ""

    @property
    def is_ds(self) -> bool:
        return self.kind == DS

    @property
    def kind_word(self) -> str:
        """``leaderworkerset`` or ``disaggregatedset``, as kubectl names the kind in messages."""
        return "disaggregatedset" if self.is_ds else "leaderworkerset"

    @property
    def ref(self) -> str:
        """The canonical way to write it back in a hint: ``ds/NAME`` or the bare LWS name."""
        return f"ds/{self.name}" if self.is_ds else self.name

    def __str__(self) -> str:
        return self.ref


def ds_flags_on_lws(target: Target, flags: str = "--role and --slice", hint: str | None = None) -> UsageError:
    """The usage error (exit 2) for a DisaggregatedSet's flags given with an LWS: one wording everywhere."""
    return UsageError(f"{flags} apply to a DisaggregatedSet (ds/NAME); {target.name} is a LeaderWorkerSet", hint=hint)


def parse_target(text: str) -> Target:
    """``text`` as a Target, or a UsageError (exit 2) naming what is accepted."""
    from kubectl_lws.names import check_name

    value = str(text)
    if "/" not in value:
        return Target(LWS, check_name(value, "leaderworkerset"), value)
    kind_text, _, name = value.partition("/")
    kind = _KINDS.get(kind_text.lower())
    if kind is None:
        elsewhere = _ELSEWHERE.get(kind_text.lower())
        if elsewhere:
            raise UsageError(f'"{_shown(value)}": {elsewhere}')
        # worded as the invalid name it also is (a bare NAME is an LWS name, which has no "/")
        from kubectl_lws.names import SUBDOMAIN_RULE

        raise UsageError(f'invalid leaderworkerset name "{_shown(value)}": {SUBDOMAIN_RULE}; and '
                         f'"{_shown(kind_text)}/" is not a kind kubectl lws knows (unknown kind: give ds/NAME for a '
                         "DisaggregatedSet, lws/NAME or NAME for a LeaderWorkerSet)")
    if "/" in name:
        raise UsageError(f'"{_shown(value)}" has more than one "/": give ds/NAME, lws/NAME or NAME')
    return Target(kind, check_name(name, "disaggregatedset" if kind == DS else "leaderworkerset"), value)


def _shown(value: str) -> str:
    from kubectl_lws.names import _shown as shown

    return shown(value)
