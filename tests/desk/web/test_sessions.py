from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quietline.desk.web.sessions import MAX_SESSIONS, Sessions

NOW = datetime(2026, 3, 1, 9, tzinfo=UTC)
IDLE = timedelta(minutes=10)


def test_a_session_starts_locked_and_unlocks_under_a_new_id_and_token() -> None:
    sessions = Sessions(IDLE)
    locked = sessions.new(NOW)
    assert not locked.unlocked
    unlocked = sessions.unlock(locked, NOW)
    assert unlocked.unlocked
    assert (unlocked.id, unlocked.csrf) != (locked.id, locked.csrf)
    assert sessions.get(locked.id, NOW) is None
    assert sessions.get(unlocked.id, NOW) is unlocked
    assert unlocked.id not in repr(unlocked)
    assert unlocked.csrf not in repr(unlocked)


def test_a_session_locks_after_sitting_idle_and_when_asked() -> None:
    sessions = Sessions(IDLE)
    session = sessions.unlock(sessions.new(NOW), NOW)
    sessions.touch(session, NOW + IDLE)
    assert sessions.get(session.id, NOW + IDLE * 2) is session
    assert session.unlocked
    assert sessions.get(session.id, NOW + IDLE * 2 + timedelta(seconds=1)) is session
    assert not session.unlocked
    again = sessions.unlock(session, NOW)
    sessions.lock(again)
    assert not again.unlocked


def test_the_csrf_token_must_match_exactly() -> None:
    session = Sessions(IDLE).new(NOW)
    assert session.csrf_matches(session.csrf)
    for wrong in (None, "", session.csrf[:-1], session.csrf + "x"):
        assert not session.csrf_matches(wrong)


def test_unknown_ids_find_nothing_and_old_sessions_make_room() -> None:
    sessions = Sessions(IDLE)
    assert sessions.get(None, NOW) is None
    assert sessions.get("made-up", NOW) is None
    first = sessions.new(NOW)
    for _ in range(MAX_SESSIONS):
        sessions.new(NOW)
    assert sessions.get(first.id, NOW) is None
