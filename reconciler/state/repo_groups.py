"""Groups, their memberships over time and their events (formed, grew, merged, ...)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Integer, Select, bindparam, insert, select, update
from sqlalchemy.orm import Session

from reconciler.state.models import GroupEventRow, GroupRow, MembershipRow
from reconciler.state.records import GroupEventRecord, GroupRecord
from reconciler.state.repo_runs import NotFoundError, Repository, chunked, settled

__all__ = ["OPERATOR_NAME", "OPERATOR_SOURCE", "GroupExistsError", "GroupsRepository"]

#: ``explanation["source"]`` of a group an operator made through the API (``create_group``).
OPERATOR_SOURCE = "api"
#: ``explanation[OPERATOR_NAME]``: the name an operator gave the group (``rename_group``).
OPERATOR_NAME = "operator_name"
#: The explanation keys that say who made or named a group; a composition never drops them.
_PROVENANCE = ("source", "created_by", OPERATOR_NAME)


class GroupExistsError(ValueError):
    """A group with that id (or an active manual group with that name) already exists."""


def _group(row: Any, members: Sequence[str]) -> GroupRecord:
    return GroupRecord(
        id=row.id,
        name=row.name,
        kind=row.kind,
        created_at=row.created_at,
        members=tuple(sorted(members)),
        pinned=row.pinned,
        policy_class=row.policy_class,
        pinned_gbps=row.pinned_gbps,
        tag_selector=row.tag_selector,
        confidence=row.confidence,
        explanation=row.explanation,
        dissolved_at=row.dissolved_at,
    )


def _explanation(old: dict[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """``new``, keeping who made the group (``old``'s provenance keys) when ``new`` drops it."""
    kept = {k: old[k] for k in _PROVENANCE if old and k in old and k not in (new or {})}
    return {**(new or {}), **kept} if kept else new


def _event(row: Any) -> GroupEventRecord:
    return GroupEventRecord(
        group_id=row.group_id,
        kind=row.kind,
        reason=row.reason,
        at=row.at,
        details=row.details,
        run_id=row.run_id,
    )


@cache
def _group_stmt() -> Select[Any]:
    return select(*GroupRow.__table__.columns).where(GroupRow.id == bindparam("group_id"))


@cache
def _members_stmt() -> Select[Any]:
    return select(MembershipRow.resource_id).where(
        MembershipRow.group_id == bindparam("group_id"), MembershipRow.until.is_(None)
    )


@cache
def _events_stmt(by_group: bool) -> Select[Any]:
    stmt = select(*GroupEventRow.__table__.columns).where(settled(GroupEventRow.run_id))
    if by_group:
        stmt = stmt.where(GroupEventRow.group_id == bindparam("group_id"))
    return stmt.order_by(GroupEventRow.at.desc(), GroupEventRow.id.desc()).limit(
        bindparam("limit", type_=Integer)
    )


def _open_members(session: Session, group_ids: Sequence[str] | None) -> dict[str, list[str]]:
    """Current members per group; ``None`` reads every open membership in one query."""
    out: dict[str, list[str]] = defaultdict(list)
    stmt = select(MembershipRow.group_id, MembershipRow.resource_id).where(
        MembershipRow.until.is_(None)
    )
    if group_ids is None:
        for gid, rid in session.execute(stmt):
            out[gid].append(rid)
        return out
    for part in chunked(group_ids):
        for gid, rid in session.execute(stmt.where(MembershipRow.group_id.in_(part))):
            out[gid].append(rid)
    return out


def _insert_events(session: Session, events: Sequence[GroupEventRecord]) -> None:
    if events:
        session.execute(
            insert(GroupEventRow),
            [
                {
                    "group_id": e.group_id,
                    "kind": e.kind,
                    "reason": e.reason,
                    "at": e.at,
                    "details": e.details,
                    "run_id": e.run_id,
                }
                for e in events
            ],
        )


class GroupsRepository(Repository):
    def save_composition(
        self,
        at: datetime,
        groups: Sequence[GroupRecord],
        events: Sequence[GroupEventRecord] = (),
        *,
        dissolved: Sequence[str] = (),
    ) -> None:
        """Upsert groups, reconcile their memberships to ``members``, and append the events.

        Memberships are history: a resource that left gets ``until=at``, one that joined gets a
        new row ``since=at``. Overrides set through the API (``pinned``, ``pinned_gbps``,
        ``policy_class``) survive a composition that does not set them, and so does who made the
        group (``explanation`` ``source`` and ``created_by``). Groups named in
        ``dissolved`` get ``dissolved_at=at`` and their open memberships closed.
        """
        ids = [g.id for g in groups]
        if len(set(ids)) != len(ids):
            raise ValueError("save_composition: the same group id appears twice")
        with self._write() as session:
            existing: dict[str, GroupRow] = {}
            for part in chunked(ids):
                for found in session.scalars(select(GroupRow).where(GroupRow.id.in_(part))):
                    existing[found.id] = found
            current = _open_members(session, ids)
            for group in groups:
                row = existing.get(group.id)
                if row is None:
                    row = GroupRow(id=group.id, created_at=group.created_at, pinned=False)
                    session.add(row)
                row.kind = group.kind
                row.tag_selector, row.confidence = group.tag_selector, group.confidence
                row.explanation = _explanation(row.explanation, group.explanation)
                # an operator's rename made while this cycle ran wins over its older name
                row.name = (row.explanation or {}).get(OPERATOR_NAME) or group.name
                row.dissolved_at = None
                if group.pinned or group.pinned_gbps is not None:
                    row.pinned, row.pinned_gbps = group.pinned, group.pinned_gbps
                if group.policy_class is not None:
                    row.policy_class = group.policy_class
            session.flush()
            leaving: list[tuple[str, list[str]]] = []
            joining: list[dict[str, object]] = []
            for group in groups:
                had, has = set(current.get(group.id, ())), set(group.members)
                if had - has:
                    leaving.append((group.id, sorted(had - has)))
                joining.extend(
                    {"group_id": group.id, "resource_id": r, "since": at} for r in sorted(has - had)
                )
            for gid, resources in leaving:
                for part in chunked(resources):
                    session.execute(
                        update(MembershipRow)
                        .where(
                            MembershipRow.group_id == gid,
                            MembershipRow.until.is_(None),
                            MembershipRow.resource_id.in_(part),
                        )
                        .values(until=at)
                    )
            if joining:
                session.execute(insert(MembershipRow), joining)
            self._dissolve(session, dissolved, at)
            _insert_events(session, events)

    @staticmethod
    def _dissolve(session: Session, group_ids: Sequence[str], at: datetime) -> None:
        for part in chunked(list(group_ids)):
            session.execute(
                update(GroupRow)
                .where(GroupRow.id.in_(part), GroupRow.dissolved_at.is_(None))
                .values(dissolved_at=at)
            )
            session.execute(
                update(MembershipRow)
                .where(MembershipRow.group_id.in_(part), MembershipRow.until.is_(None))
                .values(until=at)
            )

    def create_group(self, group: GroupRecord, at: datetime, *, reason: str) -> GroupRecord:
        """Insert a manual/tenant group with its members and a ``formed`` event."""
        with self._write() as session:
            if session.get(GroupRow, group.id) is not None:
                raise GroupExistsError(f"group id {group.id!r} already exists")
            clash = session.scalars(
                select(GroupRow.id).where(
                    GroupRow.name == group.name,
                    GroupRow.kind == group.kind,
                    GroupRow.dissolved_at.is_(None),
                )
            ).first()
            if clash is not None:
                raise GroupExistsError(
                    f"an active {group.kind} group named {group.name!r} exists (id {clash})"
                )
            session.add(
                GroupRow(
                    id=group.id,
                    name=group.name,
                    kind=group.kind,
                    pinned=group.pinned,
                    policy_class=group.policy_class,
                    pinned_gbps=group.pinned_gbps,
                    tag_selector=group.tag_selector,
                    confidence=group.confidence,
                    explanation=group.explanation,
                    created_at=at,
                )
            )
            session.flush()
            if group.members:
                session.execute(
                    insert(MembershipRow),
                    [{"group_id": group.id, "resource_id": r, "since": at} for r in group.members],
                )
            _insert_events(session, [GroupEventRecord(group.id, "formed", reason, at)])
        created = self.get_group(group.id)
        assert created is not None
        return created

    def set_pinned_bandwidth(
        self, group_id: str, gbps: float, at: datetime, *, reason: str
    ) -> GroupRecord:
        """Pin a group's bandwidth (an operator override) and record why."""
        if gbps < 0:
            raise ValueError(f"group {group_id}: bandwidth {gbps} Gbps is negative")
        with self._write() as session:
            row = session.get(GroupRow, group_id)
            if row is None or row.dissolved_at is not None:
                raise NotFoundError(f"no active group {group_id!r}")
            before = row.pinned_gbps
            row.pinned, row.pinned_gbps = True, gbps
            _insert_events(
                session,
                [
                    GroupEventRecord(
                        group_id,
                        "overridden",
                        reason,
                        at,
                        {"before_gbps": before, "after_gbps": gbps},
                    )
                ],
            )
        updated = self.get_group(group_id)
        assert updated is not None
        return updated

    def rename_group(self, group_id: str, name: str, at: datetime, *, reason: str) -> GroupRecord:
        """Give an active group the name an operator chose (the composer keeps it from the next
        cycle on) and record it as an ``overridden`` event; ``GroupExistsError`` when another active
        group has that name, ``NotFoundError`` when the group is gone."""
        name = name.strip()
        if not name:
            raise ValueError(f"group {group_id}: a name cannot be empty")
        with self._write() as session:
            row = session.get(GroupRow, group_id)
            if row is None or row.dissolved_at is not None:
                raise NotFoundError(f"no active group {group_id!r}")
            clash = session.scalars(
                select(GroupRow.id).where(
                    GroupRow.name == name,
                    GroupRow.id != group_id,
                    GroupRow.dissolved_at.is_(None),
                )
            ).first()
            if clash is not None:
                raise GroupExistsError(f"an active group is already named {name!r} (id {clash})")
            before = row.name
            row.name = name
            row.explanation = {**(row.explanation or {}), OPERATOR_NAME: name}
            _insert_events(
                session,
                [
                    GroupEventRecord(
                        group_id, "overridden", reason, at, {"name_before": before, "name": name}
                    )
                ],
            )
        renamed = self.get_group(group_id)
        assert renamed is not None
        return renamed

    def operator_names(self) -> dict[str, str]:
        """Active groups an operator renamed: group id -> name, for the composer to keep."""
        with self._read() as session:
            rows = session.execute(
                select(GroupRow.id, GroupRow.explanation).where(GroupRow.dissolved_at.is_(None))
            )
            return {
                gid: str(exp[OPERATOR_NAME])
                for gid, exp in rows
                if isinstance(exp, dict) and exp.get(OPERATOR_NAME)
            }

    def operator_groups(self) -> list[GroupRecord]:
        """Active groups an operator made through the API (the composer keeps them as manual
        groups each cycle), with their members."""
        return [
            g
            for g in self.latest_groups()
            if (g.explanation or {}).get("source") == OPERATOR_SOURCE
        ]

    def pinned_bandwidth(self) -> dict[str, float]:
        """Active groups' bandwidth pins (``PUT /groups/{id}/bandwidth`` or ``pinned_gbps`` at
        creation): group id -> Gbps, for the allocator to hold every cycle."""
        with self._read() as session:
            rows = session.execute(
                select(GroupRow.id, GroupRow.pinned_gbps).where(
                    GroupRow.dissolved_at.is_(None),
                    GroupRow.pinned.is_(True),
                    GroupRow.pinned_gbps.is_not(None),
                )
            )
            return {gid: float(gbps) for gid, gbps in rows if gbps is not None}

    def latest_groups(self, *, include_dissolved: bool = False) -> list[GroupRecord]:
        """Every active group with its members, in two queries whatever the fleet size."""
        with self._read() as session:
            stmt = select(*GroupRow.__table__.columns).order_by(GroupRow.id)
            if not include_dissolved:
                stmt = stmt.where(GroupRow.dissolved_at.is_(None))
            rows = list(session.execute(stmt))
            members = _open_members(session, None)
            return [_group(r, members.get(r.id, ())) for r in rows]

    def get_group(self, group_id: str) -> GroupRecord | None:
        with self._read() as session:
            row = session.execute(_group_stmt(), {"group_id": group_id}).first()
            if row is None:
                return None
            members = session.scalars(_members_stmt(), {"group_id": group_id})
            return _group(row, list(members))

    def members_at(self, group_id: str, at: datetime) -> list[str]:
        """Who was in the group at a past time (memberships are kept as history)."""
        with self._read() as session:
            rows = session.scalars(
                select(MembershipRow.resource_id).where(
                    MembershipRow.group_id == group_id,
                    MembershipRow.since <= at,
                    (MembershipRow.until.is_(None)) | (MembershipRow.until > at),
                )
            )
            return sorted(rows)

    def recent_events(self, group_id: str | None = None, limit: int = 50) -> list[GroupEventRecord]:
        """Newest first; every group's when ``group_id`` is None."""
        params = {"group_id": group_id, "limit": limit}
        with self._read() as session:
            rows = session.execute(_events_stmt(group_id is not None), params)
            return [_event(r) for r in rows]
